"""One attempt of a job in a child process, stopped when it runs past its time.

A Python thread cannot be stopped from outside, so a job that hangs (a stuck socket, a
query that never returns) would hold the scheduler for good if it ran in a thread. Each
attempt therefore runs in a fresh interpreter (``multiprocessing``, start method
``spawn``: no locks or threads inherited from the scheduler's process), which sends back
the rows or its error through a pipe. Past the deadline the child gets SIGTERM (the
worker stops between batches, what it committed stays committed, positions included),
then SIGKILL after ``KILL_GRACE_S``; either way the next run resumes from the positions
the sinks committed, so nothing is lost or doubled.

The kind runs in the child as in the scheduler (``kind(settings, job)``), with the run's
``job``/``run_id`` on every log line; kinds must be importable functions (they are sent
by reference).
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from lakesmith.core.errors import ConfigError, ContractError, LakesmithError
from lakesmith.core.logging import get_logger

if TYPE_CHECKING:
    from lakesmith.config import Settings
    from lakesmith.config.schedule import JobSpec
    from lakesmith.schedule.kinds import Kind

log = get_logger(__name__)
KILL_GRACE_S = 10.0  # after SIGTERM, how long a child may take to stop before SIGKILL
_live: set[Any] = set()  # the children of runs in progress, for stop_all_children
_live_lock = threading.Lock()
_closed = False  # set by stop_all_children: no new child starts after it


class JobTimeoutError(LakesmithError):
    """The run went past its ``timeout_s`` and was stopped."""


class ChildFailedError(LakesmithError):
    """The attempt raised in the child process (its one-line error)."""


class ChildConfigError(ConfigError):
    """A configuration or contract error in the child: not retried."""


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _child(
    kind: Kind, settings: Settings, job: JobSpec, run_id: str, level: str, out: Connection
) -> None:
    import structlog

    from lakesmith.core.logging import configure_logging

    signal.signal(signal.SIGTERM, _stop)
    configure_logging(level, json=not sys.stderr.isatty())
    structlog.contextvars.bind_contextvars(job=job.name, run_id=run_id)
    try:
        rows = kind(settings, job)
        out.send(("ok", int(rows)))
    except KeyboardInterrupt:
        out.send(("error", False, "stopped (its time was up)"))
    except Exception as exc:
        text = str(exc).strip().splitlines()
        message = f"{type(exc).__name__}: {text[0] if text else ''}".strip().rstrip(":")
        out.send(("error", isinstance(exc, ConfigError | ContractError), message[:1000]))
    finally:
        out.close()


def run_isolated(
    kind: Kind,
    settings: Settings,
    job: JobSpec,
    run_id: str,
    timeout_s: float | None,
    limit_s: float | None = None,
) -> int:
    """``kind(settings, job)`` in a child process; its rows. Raises ``JobTimeoutError`` past
    ``timeout_s`` (None: no limit; ``limit_s``: the job's whole limit, for the message), ``ChildConfigError`` / ``ChildFailedError`` with the
    child's error, ``ChildFailedError`` when the child died without a word (killed, crashed)."""
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(
        target=_child,
        args=(kind, settings, job, run_id, settings.log_level, send),
        name=f"lakesmith-job-{job.name}",
        daemon=False,
    )
    with _live_lock:
        if _closed:
            raise ChildConfigError("the scheduler is stopping: no new run starts")
        child.start()
        _live.add(child)
    send.close()  # the child holds the only writer: EOF when it dies
    try:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        message: Any = None
        while message is None:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not receive.poll(left):
                _terminate(child)
                raise JobTimeoutError(
                    f"the run took longer than its timeout_s = {limit_s or timeout_s:g} s and "
                    "was stopped",
                    hint="raise the job's timeout_s, or make the job do less per run",
                )
            try:
                message = receive.recv()
            except EOFError:
                child.join(KILL_GRACE_S)
                raise ChildFailedError(
                    f"the run's process died without a result (exit code {child.exitcode})"
                ) from None
        child.join(KILL_GRACE_S)
    except BaseException:
        if child.is_alive():  # Ctrl-C in the foreground, or an error here: no orphan
            _terminate(child)
        raise
    finally:
        receive.close()
        with _live_lock:
            _live.discard(child)
    if message[0] == "ok":
        return int(message[1])
    _, not_retried, error = message
    raise (ChildConfigError if not_retried else ChildFailedError)(error)


def stop_all_children(grace_s: float = KILL_GRACE_S) -> int:
    """SIGTERM every run's child process still alive, SIGKILL those still alive after
    ``grace_s``; how many there were. For a scheduler that leaves without waiting for its
    jobs (a second Ctrl-C), so no job process outlives it; no new run starts afterwards
    (a run whose child was stopped is not retried)."""
    global _closed
    with _live_lock:
        _closed = True
        children = [c for c in _live if c.is_alive()]
    for child in children:
        log.warning("job_stopping_child", pid=child.pid)
        child.terminate()
    deadline = time.monotonic() + grace_s
    for child in children:
        child.join(max(0.0, deadline - time.monotonic()))
        if child.is_alive():
            child.kill()
            child.join()
    return len(children)


def _terminate(child: Any) -> None:
    """SIGTERM (the worker stops between batches), then SIGKILL after the grace."""
    log.warning("job_stopping_child", pid=child.pid)
    child.terminate()
    child.join(KILL_GRACE_S)
    if child.is_alive():
        child.kill()
        child.join()
