"""A service that is down, refuses us or holds our port is a user's problem, not a bug:
each command prints one or two lines with the fix and exits 2, with no traceback
(unless ``--debug``). Every other service of the session's stack is up."""

from __future__ import annotations

import errno
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
import sqlalchemy.exc
from confluent_kafka import KafkaError, KafkaException

from lakesmith import cli
from lakesmith.config import Settings
from lakesmith.pipeline.dataset import Dataset
from lakesmith.testing import free_ports, make_state_dir, worker_env
from lakesmith.testing.pipeline import unique_contract

pytestmark = pytest.mark.integration

PG_DOWN_COMMANDS = {  # DATASET: a copy of iot.telemetry whose lake tables exist
    "run": ["run", "DATASET", "--until-idle"],
    "schema history": ["schema", "history", "DATASET"],
    "quarantine replay": ["quarantine", "replay", "DATASET"],
    "backfill": ["backfill", "DATASET", "--from", "lake", "--to", "timeseries"],
    "dq report": ["dq", "report", "DATASET"],
}


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    def message_lines(self) -> list[str]:
        """What the user reads: every output line but the JSON log lines."""
        lines = (self.stdout + "\n" + self.stderr).splitlines()
        return [line for line in lines if line.strip() and not line.lstrip().startswith("{")]

    def assert_clean_failure(self, expected: str) -> None:
        shown = f"exit {self.returncode}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"
        assert self.returncode == 2, shown
        assert expected in self.stderr, shown
        assert "Traceback" not in self.stderr + self.stdout, shown
        assert len(self.message_lines()) <= 3, shown


@dataclass
class Runs:
    results: dict[str, Result]
    busy_port: int  # held by the test while `run --metrics-port busy_port` starts


@pytest.fixture(scope="module")
def runs(stack_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    """Every case at once, in parallel (each is a fresh interpreter: seconds of imports)."""
    cwd = tmp_path_factory.mktemp("services-down")
    # a dataset ingested before PostgreSQL went away (backfill checks its silver table first)
    contract, path = unique_contract(cwd)
    Dataset(stack_settings, contract).ensure().close()
    (dead_pg_port,) = free_ports(1)
    pg_down = worker_env(stack_settings, LAKESMITH__LOCAL__POSTGRES_PORT=str(dead_pg_port))
    other_state = make_state_dir()  # its own, new postgres_password: the real server refuses it
    wrong_dir = worker_env(stack_settings, LAKESMITH__STATE_DIR=str(other_state))
    busy = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    busy_port = busy.getsockname()[1]
    cases: dict[str, tuple[list[str], dict[str, str]]] = {
        name: ([str(path) if a == "DATASET" else a for a in args], pg_down)
        for name, args in PG_DOWN_COMMANDS.items()
    }
    catalog_down = {**pg_down, "LAKESMITH__LAKE__CATALOG": "postgres"}  # SQLAlchemy's error
    cases["catalog"] = (["run", "iot.telemetry", "--until-idle"], catalog_down)
    cases["debug"] = (["--debug", "schema", "history", "iot.telemetry"], pg_down)
    cases["wrong state dir"] = (["schema", "history", "iot.telemetry"], wrong_dir)
    metrics_args = ["run", "iot.telemetry", "--until-idle", "--metrics-port", str(busy_port)]
    cases["metrics port"] = (metrics_args, worker_env(stack_settings))
    procs: dict[str, subprocess.Popen[str]] = {}
    try:
        procs = {
            name: subprocess.Popen(
                [sys.executable, "-m", "lakesmith", *args],
                env=env,
                cwd=cwd,
                text=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for name, (args, env) in cases.items()
        }
        results: dict[str, Result] = {}
        for name, proc in procs.items():
            try:
                stdout, stderr = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                stdout, stderr = proc.communicate()
            results[name] = Result(proc.returncode, stdout, stderr)
        yield Runs(results, busy_port)
    finally:
        busy.close()
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
        shutil.rmtree(other_state, ignore_errors=True)


@pytest.mark.parametrize("command", list(PG_DOWN_COMMANDS))
def test_postgres_down_is_one_line_and_a_fix(runs: Runs, command: str) -> None:
    result = runs.results[command]
    result.assert_clean_failure("PostgreSQL is not reachable")
    assert "lakesmith local up postgres" in result.stderr


def test_lake_catalog_in_postgres_down(runs: Runs) -> None:
    runs.results["catalog"].assert_clean_failure("PostgreSQL is not reachable at 127.0.0.1:")


def test_debug_shows_the_traceback(runs: Runs) -> None:
    result = runs.results["debug"]
    assert result.returncode != 0
    assert "Traceback" in result.stderr, result.stderr
    assert "ServiceUnavailableError" in result.stderr
    assert "PostgreSQL is not reachable" in result.stderr


def test_wrong_state_dir_is_a_refused_login(runs: Runs, stack_settings: Settings) -> None:
    result = runs.results["wrong state dir"]
    result.assert_clean_failure("refused the login")
    assert "secrets" in result.stderr
    password = (stack_settings.state_dir / "secrets" / "postgres_password").read_text().strip()
    assert password not in result.stderr + result.stdout


def test_metrics_port_in_use(runs: Runs) -> None:
    runs.results["metrics port"].assert_clean_failure(
        f"port {runs.busy_port} is in use; pick another --metrics-port"
    )


def _deep_errors() -> dict[str, tuple[Exception, str]]:
    """Errors that commands do not wrap (raised mid-run, deep in a library), and what the
    user reads instead."""
    lost = psycopg.OperationalError(
        "consuming input failed: server closed the connection unexpectedly\n\tThis probably…"
    )
    refused = psycopg.OperationalError(
        'connection failed: connection to server at "127.0.0.1", port 1 failed: '
        "Connection refused\n\tIs the server running on that host and accepting TCP/IP …"
    )
    return {
        "postgres lost": (lost, "lost the connection to PostgreSQL (consuming input failed"),
        "catalog unreachable": (
            sqlalchemy.exc.OperationalError("SELECT 1", {}, refused),
            "PostgreSQL is not reachable at 127.0.0.1:1 (Connection refused)",
        ),
        "catalog lost": (
            sqlalchemy.exc.OperationalError("SELECT 1", {}, lost),
            "lost the connection to PostgreSQL",
        ),
        "kafka": (
            KafkaException(KafkaError(KafkaError._TRANSPORT, "broker down")),
            "Kafka error: broker down",
        ),
        "address in use": (
            OSError(errno.EADDRINUSE, "Address already in use"),
            "address already in use",
        ),
        "permission": (
            PermissionError(errno.EACCES, "Permission denied", "/srv/lake"),
            "permission denied: /srv/lake",
        ),
        "disk full": (
            OSError(errno.ENOSPC, "No space left on device", "/srv/lake/x.parquet"),
            "no space left on device",
        ),
    }


@pytest.mark.parametrize("case", list(_deep_errors()))
def test_environment_errors_from_deep_code_are_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    error, expected = _deep_errors()[case]

    def command() -> None:
        raise error

    monkeypatch.setattr(cli, "app", command)
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert expected in err and "fix:" in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 2, err

    monkeypatch.setattr(cli, "_debug", True)  # --debug: the original error, traceback and all
    with pytest.raises(type(error)):
        cli.main()


def test_a_bug_still_shows_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def command() -> None:
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "/not/a/user/path")

    monkeypatch.setattr(cli, "app", command)
    with pytest.raises(FileNotFoundError):
        cli.main()
