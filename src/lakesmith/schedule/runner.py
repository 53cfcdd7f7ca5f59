"""One run of a scheduled job: never two at once, retried with backoff, always recorded.

A run takes the job's lock — a thread lock (this process) and a PostgreSQL advisory lock
(any process: ``lakesmith jobs run`` beside the scheduler) — or is recorded ``skipped``
and logged (``job_skipped_overlap``). It then calls the job's kind (``schedule.kinds``)
under tenacity: a failure is retried up to ``retries`` times after exponential waits
(``backoff_s``, doubling, at most ``backoff_max_s``); configuration errors are not
retried. Every line logged meanwhile carries ``job`` and ``run_id`` (structlog context
variables), and ``lakesmith.job_runs`` gets the run's status, duration, rows, attempts and
last error.

Each attempt runs in a child process (``schedule.isolated``) so that a run longer than
the job's ``timeout_s`` (retries and their waits included) can be stopped: it is recorded
``timeout`` and not retried. ``isolate=False`` runs the kinds in the calling thread
instead (tests with in-memory kinds; no timeout then).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import structlog
import tenacity

from lakesmith.core.errors import ConfigError, ContractError
from lakesmith.core.logging import get_logger
from lakesmith.schedule.isolated import (
    ChildConfigError,
    ChildFailedError,
    JobTimeoutError,
    run_isolated,
)
from lakesmith.schedule.kinds import KINDS, Kind

if TYPE_CHECKING:
    from lakesmith.config import Settings
    from lakesmith.config.schedule import JobSpec
    from lakesmith.stores.job_runs import JobRuns

log = get_logger(__name__)
NOT_RETRIED = (ConfigError, ContractError, JobTimeoutError)  # a retry cannot fix these


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    job: str
    status: str  # ok | failed | timeout | skipped | interrupted
    rows: int | None = None
    attempts: int = 0
    error: str | None = None
    seconds: float = 0.0


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    if isinstance(exc, ChildFailedError | ChildConfigError):  # the child's own one line
        return (text[0] if text else type(exc).__name__)[:1000]
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip().rstrip(":")[:1000]


def new_run_id(job: str) -> str:
    return f"{job}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


class JobRunner:
    """Runs jobs for the scheduler (a thread per run) and for ``lakesmith jobs run``."""

    def __init__(
        self,
        settings: Settings,
        history: JobRuns,
        kinds: Mapping[str, Kind] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        isolate: bool = True,
    ) -> None:
        self.settings = settings
        self.isolate = isolate
        self.history = history
        self.kinds = dict(kinds or KINDS)
        self._sleep = sleep
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def _lock(self, job: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(job, threading.Lock())

    def skip(self, job: JobSpec, trigger: str, reason: str) -> RunOutcome:
        """Record (and log) a run that was not started."""
        run_id = new_run_id(job.name)
        log.warning("job_skipped_overlap", job=job.name, run_id=run_id, reason=reason)
        self.history.skipped(run_id, job.name, job.kind, trigger, reason)
        return RunOutcome(run_id, job.name, "skipped", error=reason)

    def run(self, job: JobSpec, trigger: str = "cron") -> RunOutcome:
        lock = self._lock(job.name)
        if not lock.acquire(blocking=False):
            return self.skip(job, trigger, "the previous run of this job is still running")
        try:
            if not self.history.try_lock(job.name):
                return self.skip(job, trigger, "another process is running this job")
            try:
                return self._run(job, trigger)
            finally:
                self.history.unlock(job.name)
        finally:
            lock.release()

    def _run(self, job: JobSpec, trigger: str) -> RunOutcome:
        kind = self.kinds[job.kind]
        cfg = self.settings.schedule
        retries = cfg.retries if job.retries is None else job.retries
        limit = cfg.timeout_s if job.timeout_s is None else job.timeout_s
        run_id = new_run_id(job.name)
        t0 = time.monotonic()
        deadline = t0 + limit if limit else None

        def attempt_once() -> int:
            if not self.isolate:
                return kind(self.settings, job)
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise JobTimeoutError(
                    f"the run took longer than its timeout_s = {limit:g} s (retries included)"
                )
            return run_isolated(kind, self.settings, job, run_id, left, limit)

        attempts, rows, error, status = 0, None, None, "failed"
        with structlog.contextvars.bound_contextvars(job=job.name, run_id=run_id):
            self.history.start(run_id, job.name, job.kind, trigger)
            log.info("job_started", kind=job.kind, dataset=job.dataset, trigger=trigger)

            def before_sleep(state: tenacity.RetryCallState) -> None:
                exc = state.outcome.exception() if state.outcome else None
                message = _one_line(exc) if exc else None
                wait = state.next_action.sleep if state.next_action else 0.0
                log.warning("job_retry", attempt=state.attempt_number, wait_s=wait, error=message)
                self.history.attempt(run_id, state.attempt_number, message)

            retrying = tenacity.Retrying(
                stop=tenacity.stop_after_attempt(retries + 1),
                wait=tenacity.wait_exponential(
                    multiplier=cfg.backoff_s, min=cfg.backoff_s, max=cfg.backoff_max_s
                ),
                retry=tenacity.retry_if_not_exception_type(NOT_RETRIED),
                before_sleep=before_sleep,
                sleep=self._sleep,
                reraise=True,
            )
            try:
                for attempt in retrying:
                    with attempt:
                        attempts = attempt.retry_state.attempt_number
                        rows = attempt_once()
                status = "ok"
            except JobTimeoutError as exc:
                status, error = "timeout", _one_line(exc)
                log.error("job_timeout", attempts=attempts, timeout_s=limit, error=error)
            except Exception as exc:
                error = _one_line(exc)
                log.error("job_failed", attempts=attempts, error=error)
            except BaseException as exc:  # Ctrl-C while running it in the foreground
                status, error = "interrupted", type(exc).__name__
                raise
            finally:
                seconds = time.monotonic() - t0
                self.history.finish(run_id, status, rows, attempts, error)
                if status == "ok":
                    log.info(
                        "job_finished", rows=rows, attempts=attempts, seconds=round(seconds, 3)
                    )
        return RunOutcome(run_id, job.name, status, rows, attempts, error, seconds)
