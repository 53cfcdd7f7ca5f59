"""One locally managed server process: start, health-wait, stop, status.

A service is identified by its pid file, which records the pid *and* the process
creation time, so a recycled pid is never mistaken for ours and ``down`` only ever
signals processes this state dir started.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import psutil

from lakesmith.config import Settings
from lakesmith.core.errors import PortInUseError, ServiceStartError
from lakesmith.core.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    pid: int | None
    port: int
    running: bool
    healthy: bool
    data_dir: Path
    log_file: Path


def port_is_free(host: str, port: int) -> bool:
    """True when ``host:port`` can be bound (as a server with SO_REUSEADDR would)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def tail(path: Path, lines: int = 20) -> str:
    if not path.exists():
        return ""
    with path.open("r", errors="replace") as fh:
        return "".join(deque(fh, maxlen=lines))


class LocalService(ABC):
    """Base class of a local server; subclasses give the command and the health check."""

    name: ClassVar[str]
    stop_signal: ClassVar[signal.Signals] = signal.SIGTERM

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.host = settings.local.host
        self.root = settings.state_dir.resolve() / "local" / self.name
        self.data_dir = self.root / "data"
        self.log_file = self.root / f"{self.name}.log"
        self.pid_file = self.root / f"{self.name}.pid"

    # -- what a subclass provides ------------------------------------------------------

    @property
    @abstractmethod
    def port(self) -> int: ...

    @property
    def ports(self) -> list[int]:
        """Every port the service binds (checked before start)."""
        return [self.port]

    @abstractmethod
    def command(self) -> list[str]:
        """The server's argv; raises ``MissingBinaryError`` when it is not installed."""

    @abstractmethod
    def is_healthy(self) -> bool:
        """True when the server really answers requests."""

    def prepare(self) -> None:
        """Create the data dir (and initialise it, where the server needs that)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def popen_user(self) -> str | None:
        """The user to run the server as (``None``: the current user)."""
        return None

    def after_healthy(self) -> None:  # noqa: B027  (optional hook, no-op by default)
        """One-time set-up once the server answers (databases, buckets, …)."""

    # -- process management ------------------------------------------------------------

    def _read_pid_file(self) -> psutil.Process | None:
        try:
            meta = json.loads(self.pid_file.read_text())
            proc = psutil.Process(int(meta["pid"]))
            if abs(proc.create_time() - float(meta["create_time"])) > 0.01:
                return None  # the pid was recycled by an unrelated process
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
            return proc
        except (OSError, ValueError, KeyError, psutil.Error):
            return None

    def process(self) -> psutil.Process | None:
        """Our running server process, or ``None`` (a stale pid file is removed)."""
        proc = self._read_pid_file()
        if proc is None and self.pid_file.exists():
            self.pid_file.unlink(missing_ok=True)
        return proc

    def cpu_seconds(self) -> float:
        """CPU time of the running server so far, with its ended children (PostgreSQL's
        backends are counted once their connection closes); 0 when it is not running.
        Benchmarks report it: the services share the machine's cores with the worker."""
        proc = self.process()
        if proc is None:
            return 0.0
        try:
            t = proc.cpu_times()
        except psutil.Error:
            return 0.0
        return float(t.user + t.system + t.children_user + t.children_system)

    def status(self) -> ServiceStatus:
        proc = self.process()
        healthy = proc is not None and self._safe_healthy()
        return ServiceStatus(
            name=self.name,
            pid=proc.pid if proc else None,
            port=self.port,
            running=proc is not None,
            healthy=healthy,
            data_dir=self.data_dir,
            log_file=self.log_file,
        )

    def _safe_healthy(self) -> bool:
        try:
            return self.is_healthy()
        except Exception:  # a health probe must never raise
            return False

    def start(self) -> bool:
        """Start the server and wait until healthy. Returns False if it was already up."""
        proc = self.process()
        if proc is not None:
            if self.wait_healthy(proc, timeout=self.settings.local.start_timeout_s):
                return False
            raise ServiceStartError(
                f"{self.name} is running (pid {proc.pid}) but does not answer its health check",
                hint=f"see {self.log_file}; `lakesmith local down` then `local up` restarts it",
            )
        for port in self.ports:
            if not port_is_free(self.host, port):
                raise PortInUseError(
                    f"{self.name}: port {self.host}:{port} is already in use by another process",
                    hint=(
                        f"stop that process, or choose another port with "
                        f"LAKESMITH__LOCAL__{self.name.upper()}_PORT / [local] in lakesmith.toml"
                    ),
                )
        argv = self.command()
        self.prepare()
        self.root.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as logfh:
            logfh.write(f"\n--- {time.strftime('%Y-%m-%dT%H:%M:%S')} start: {argv[0]}\n".encode())
            logfh.flush()
            popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=logfh,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                env=self.environment(),
                start_new_session=True,  # own process group: `down` can reap every child
                user=self.popen_user(),
            )
        ps = psutil.Process(popen.pid)
        self.pid_file.write_text(json.dumps({"pid": popen.pid, "create_time": ps.create_time()}))
        log.debug("service_starting", service=self.name, pid=popen.pid, port=self.port)
        if not self.wait_healthy(ps, timeout=self.settings.local.start_timeout_s, popen=popen):
            self.stop()
            raise ServiceStartError(
                f"{self.name} did not become healthy within "
                f"{self.settings.local.start_timeout_s:.0f}s; last lines of {self.log_file}:\n"
                + tail(self.log_file),
                hint=f"see {self.log_file}",
            )
        self.after_healthy()
        return True

    def wait_healthy(
        self, proc: psutil.Process, *, timeout: float, popen: subprocess.Popen[bytes] | None = None
    ) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._has_exited(proc, popen):
                code = popen.returncode if popen is not None else None
                self.pid_file.unlink(missing_ok=True)
                raise ServiceStartError(
                    f"{self.name} exited during start-up (exit code {code}); "
                    f"last lines of {self.log_file}:\n" + tail(self.log_file),
                    hint=f"see {self.log_file}",
                )
            if self._safe_healthy():
                return True
            time.sleep(0.2)
        return False

    @staticmethod
    def _has_exited(proc: psutil.Process, popen: subprocess.Popen[bytes] | None) -> bool:
        if popen is not None:
            return popen.poll() is not None
        try:
            return proc.status() == psutil.STATUS_ZOMBIE
        except psutil.Error:
            return True

    def stop(self, timeout: float = 20.0) -> bool:
        """Stop the server and every process in its group. False if it was not running."""
        proc = self.process()
        if proc is None:
            return False
        group = [proc, *proc.children(recursive=True)]
        with contextlib.suppress(psutil.Error):
            proc.send_signal(self.stop_signal)
        _, alive = psutil.wait_procs(group, timeout=timeout)
        for p in alive:
            with contextlib.suppress(psutil.Error):
                p.kill()
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)  # anything left in the session's group
        psutil.wait_procs(alive, timeout=5)
        self.pid_file.unlink(missing_ok=True)
        log.debug("service_stopped", service=self.name, pid=proc.pid)
        return True
