"""``lakesmith run`` as a subprocess whose log lines are collected (crash and drain tests),
and waiting for a ``lakesmith serve`` subprocess to answer."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any


class WorkerProcess:
    """``lakesmith run CONTRACT --until-idle`` as a subprocess, its log lines collected."""

    def __init__(self, contract_path: Path, env: dict[str, str], until_idle: bool = True) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lakesmith", "run", str(contract_path)]
            + (["--until-idle"] if until_idle else []),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def committed_batches(self) -> int:
        return sum('"batch_committed"' in ln for ln in self.lines)

    def wait_for_batches(self, n: int, timeout: float = 90) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            if self.committed_batches() >= n:
                return True
            time.sleep(0.02)
        return False

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def output(self) -> str:
        return "".join(self.lines)


def wait_until_ready(url: str, proc: subprocess.Popen[Any], timeout_s: float = 60.0) -> None:
    """Poll ``url`` (e.g. an API's ``/readyz``) until it answers 200; an AssertionError if
    ``proc`` exits first (with its stderr when captured) or ``timeout_s`` passes."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            err = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(err.decode() if isinstance(err, bytes) else err)
        assert time.monotonic() < deadline, f"{url} did not become ready in {timeout_s:.0f} s"
        time.sleep(0.3)
