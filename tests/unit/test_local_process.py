from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from lakesmith.config import load_settings
from lakesmith.core.errors import LocalStackError, MissingBinaryError
from lakesmith.local import LocalStack
from lakesmith.local.postgres import find_pg_bin_dir
from lakesmith.local.process import port_is_free


def test_port_is_free_detects_a_listener() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert not port_is_free("127.0.0.1", port)
    assert port_is_free("127.0.0.1", port)


def test_recycled_pid_is_not_ours(tmp_path: Path) -> None:
    """A pid file whose pid now belongs to another process (other start time) is stale."""
    stack = LocalStack(load_settings(state_dir=tmp_path), ["s3"])
    svc = stack.service("s3")
    svc.pid_file.parent.mkdir(parents=True)
    svc.pid_file.write_text(json.dumps({"pid": os.getpid(), "create_time": 1.0}))
    assert svc.process() is None
    assert not svc.pid_file.exists()
    assert svc.stop() is False  # never signals a process it did not start


def test_unknown_service_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LocalStackError, match="unknown service"):
        LocalStack(load_settings(state_dir=tmp_path), ["redis"])


def test_missing_pg_binaries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(
        "lakesmith.local.postgres.Path",
        lambda p: tmp_path / "none" if p == "/usr/lib/postgresql" else Path(p),
    )
    with pytest.raises(MissingBinaryError) as err:
        find_pg_bin_dir(tmp_path / "nope")
    assert "apt-get install -y postgresql" in str(err.value)


def test_cli_help_and_clean_errors(tmp_path: Path) -> None:
    env = {**os.environ, "LAKESMITH__LOCAL__S3_PORT": "nope", "LAKESMITH_CONFIG": "none"}
    out = subprocess.run(
        [sys.executable, "-m", "lakesmith", "local", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "up" in out.stdout and "down" in out.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "lakesmith", "local", "status"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert "local.s3_port = 'nope'" in bad.stderr
    assert "Traceback" not in bad.stderr
