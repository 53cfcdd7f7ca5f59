"""`lakesmith local up | status | down` as a user runs them, on a stack of its own."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from lakesmith.local import LocalStack
from lakesmith.testing import free_ports, local_stack_settings, make_state_dir

pytestmark = pytest.mark.integration


@pytest.fixture
def own_stack_env() -> Iterator[tuple[dict[str, str], Path]]:
    state_dir = make_state_dir("lakesmith-cli-")
    pg, kafka, ts, peer, s3 = free_ports(5)
    env = {
        **os.environ,
        "LAKESMITH__STATE_DIR": str(state_dir),
        "LAKESMITH__LOCAL__POSTGRES_PORT": str(pg),
        "LAKESMITH__LOCAL__KAFKA_PORT": str(kafka),
        "LAKESMITH__LOCAL__TYPESENSE_PORT": str(ts),
        "LAKESMITH__LOCAL__TYPESENSE_PEERING_PORT": str(peer),
        "LAKESMITH__LOCAL__S3_PORT": str(s3),
    }
    yield env, state_dir
    subprocess.run(
        [sys.executable, "-m", "lakesmith", "local", "down"], env=env, capture_output=True
    )
    shutil.rmtree(state_dir, ignore_errors=True)


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lakesmith", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def _pids(state_dir: Path) -> dict[str, int]:
    import json

    return {p.stem: json.loads(p.read_text())["pid"] for p in (state_dir / "local").glob("*/*.pid")}


def test_up_is_idempotent_and_down_leaves_nothing(
    own_stack_env: tuple[dict[str, str], Path],
) -> None:
    env, state_dir = own_stack_env
    first = _cli(env, "local", "up")
    assert first.returncode == 0, first.stderr
    pids = _pids(state_dir)
    assert set(pids) == {"postgres", "s3", "kafka", "typesense"}
    children = {
        name: {c.pid for c in psutil.Process(pid).children(recursive=True)}
        for name, pid in pids.items()
    }
    assert children["postgres"], "the postmaster should have its background workers"

    second = _cli(env, "local", "up")
    assert second.returncode == 0, second.stderr
    assert "already running" in second.stdout
    assert _pids(state_dir) == pids

    status = _cli(env, "local", "status")
    assert status.returncode == 0
    assert status.stdout.count("yes") == 4

    down = _cli(env, "local", "down")
    assert down.returncode == 0, down.stderr
    every = set(pids.values()).union(*children.values())
    alive = [
        p
        for p in every
        if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
    ]
    assert alive == [], f"processes left behind: {alive}"
    assert _pids(state_dir) == {}

    stopped = _cli(env, "local", "status")
    assert stopped.returncode == 1
    assert "stopped" in stopped.stdout


def test_port_in_use_gives_one_clear_error(own_stack_env: tuple[dict[str, str], Path]) -> None:
    env, _ = own_stack_env
    port = int(env["LAKESMITH__LOCAL__S3_PORT"])
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        result = _cli(env, "local", "up", "s3")
    assert result.returncode == 2
    assert f"port 127.0.0.1:{port} is already in use" in result.stderr
    assert "LAKESMITH__LOCAL__S3_PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_crashed_service_is_reported_with_its_log() -> None:
    """A server that dies during start-up yields ServiceStartError with the log tail."""
    from lakesmith.core.errors import ServiceStartError

    state_dir = make_state_dir("lakesmith-crash-")
    try:
        # Tansu exits at once on a storage engine it does not know.
        settings = local_stack_settings(state_dir)
        bad = settings.model_copy(
            update={
                "local": settings.local.model_copy(update={"kafka_storage": "bogus://nowhere/"})
            }
        )
        with pytest.raises(ServiceStartError) as err:
            LocalStack(bad, ["kafka"]).up()
        assert "kafka exited during start-up" in str(err.value)
        assert str(state_dir) in str(err.value)
        assert LocalStack(bad, ["kafka"]).status()[0].running is False
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
