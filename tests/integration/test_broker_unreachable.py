"""Kafka down or a topic missing is one message within seconds, not hundreds of
librdkafka lines and a long wait; a file that does not fit its contract is a warning.

Each case is a fresh ``lakesmith`` process (seconds of imports), all started at once."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from lakesmith.config import Settings
from lakesmith.testing import free_ports, worker_env
from lakesmith.testing.pipeline import unique_contract

pytestmark = pytest.mark.integration

CONNECT_TIMEOUT_S = 3


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def message_lines(self) -> list[str]:
        """What the user reads: every output line but the JSON log lines."""
        lines = (self.stdout + "\n" + self.stderr).splitlines()
        return [line for line in lines if line.strip() and not line.lstrip().startswith("{")]

    def shown(self) -> str:
        return f"exit {self.returncode} after {self.seconds:.1f}s\n{self.stdout}\n{self.stderr}"

    def assert_clean_failure(self, *expected: str) -> None:
        assert self.returncode == 2, self.shown()
        for text in expected:
            assert text in self.stderr, self.shown()
        assert "Traceback" not in self.stderr + self.stdout, self.shown()
        assert "%3|" not in self.stderr and "FAIL|" not in self.stderr, self.shown()
        assert len(self.message_lines()) <= 3, self.shown()
        assert len((self.stdout + self.stderr).splitlines()) <= 6, self.shown()


@pytest.fixture(scope="module")
def runs(
    stack_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Result]]:
    cwd = tmp_path_factory.mktemp("broker-down")
    (closed,) = free_ports(1)
    silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # accepts, never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    timeout = {"LAKESMITH__KAFKA__CONNECT_TIMEOUT_S": str(CONNECT_TIMEOUT_S)}
    down = worker_env(stack_settings, LAKESMITH__LOCAL__KAFKA_PORT=str(closed), **timeout)
    mute = worker_env(
        stack_settings, LAKESMITH__LOCAL__KAFKA_PORT=str(silent.getsockname()[1]), **timeout
    )
    up = worker_env(stack_settings, **timeout)
    readings = cwd / "readings.json"
    readings.write_text(json.dumps([{"device": "a", "temp": 1.5}] * 40 + [7, "x"]))
    contract, contract_path = unique_contract(cwd)
    sim = ["simulate", "iot", "--devices", "5", "--rate", "50", "--duration", "2"]
    produce = ["produce", str(readings), "--dataset", "iot.telemetry"]
    cases: dict[str, tuple[list[str], dict[str, str]]] = {
        "simulate, port closed": (sim, down),
        "produce, port closed": (produce, down),
        "run, port closed": (["run", str(contract_path), "--until-idle"], down),
        "simulate, broker silent": (sim, mute),
        "run, no such topic": (["run", str(contract_path), "--until-idle"], up),
        "produce, wrong shape": ([*produce, "--topic", f"shape-{contract.name}"], up),
    }
    procs: dict[str, tuple[subprocess.Popen[str], float]] = {}
    try:
        for name, (args, env) in cases.items():
            proc = subprocess.Popen(
                [sys.executable, "-m", "lakesmith", *args],
                env=env,
                cwd=cwd,
                text=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            procs[name] = (proc, time.monotonic())
        results: dict[str, Result] = {}
        for name, (proc, started) in procs.items():
            try:
                stdout, stderr = proc.communicate(timeout=90)
            except subprocess.TimeoutExpired:
                proc.kill()
                stdout, stderr = proc.communicate()
            results[name] = Result(proc.returncode, stdout, stderr, time.monotonic() - started)
        yield results
    finally:
        silent.close()
        for proc, _ in procs.values():
            if proc.poll() is None:
                proc.kill()


@pytest.mark.parametrize("command", ["simulate", "produce", "run"])
def test_port_closed_is_one_message_at_once(runs: dict[str, Result], command: str) -> None:
    result = runs[f"{command}, port closed"]
    result.assert_clean_failure("Kafka is not reachable", "Connection refused")
    # six interpreters start at once on two cores: imports alone take several seconds
    assert result.seconds < 45, result.shown()


def test_silent_broker_times_out_after_connect_timeout(runs: dict[str, Result]) -> None:
    result = runs["simulate, broker silent"]
    result.assert_clean_failure(f"did not answer within {CONNECT_TIMEOUT_S} s")
    assert CONNECT_TIMEOUT_S <= result.seconds < 45 + CONNECT_TIMEOUT_S, result.shown()


def test_run_on_a_missing_topic_names_it_and_the_fix(runs: dict[str, Result]) -> None:
    result = runs["run, no such topic"]
    result.assert_clean_failure("Kafka topic 'test.telemetry.", "does not exist", "produce")


def test_produce_warns_when_records_do_not_fit_the_contract(runs: dict[str, Result]) -> None:
    result = runs["produce, wrong shape"]
    assert result.returncode == 0, result.shown()
    assert "produced 42 messages" in result.stdout, result.shown()
    warnings = [json.loads(x) for x in result.stderr.splitlines() if "shape_mismatch" in x]
    assert len(warnings) == 1, result.shown()
    warning = warnings[0]
    assert warning["level"] == "warning"
    assert warning["sampled"] == 42 and warning["not_objects"] == 2
    assert warning["missing_required"] == 40
    assert set(warning["missing_fields"]) >= {"device_id", "timestamp"}
    assert "do not match the contract of iot.telemetry" in warning["message"]
