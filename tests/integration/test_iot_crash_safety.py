"""Exactly-once under SIGKILL and with two workers sharing the partitions."""

from __future__ import annotations

import contextlib
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from lakesmith.config import Settings
from lakesmith.contracts import Contract
from lakesmith.domains.iot.simulator import SimConfig, generate, produce_simulation
from lakesmith.sources.kafka import kafka_spec
from lakesmith.testing.pipeline import assert_exactly_once, read_sinks, unique_contract
from lakesmith.testing.stack import worker_env
from lakesmith.testing.workers import WorkerProcess

pytestmark = pytest.mark.integration


def _check_exactly_once(
    settings: Settings, contract: Contract, expected: Counter[str], total: int
) -> None:
    assert_exactly_once(settings, contract, expected, total)


def _simulate(settings: Settings, contract: Contract, total: int, seed: int) -> Counter[str]:
    config = SimConfig(
        devices=50,
        rate=200,
        duration=total / 200,
        bad_ratio=0.05,
        seed=seed,
        topic=kafka_spec(contract.source).topic,
    ).resolved()
    expected = Counter(m.expected for m in generate(config))
    produce_simulation(settings, config, progress=False)
    return expected


def test_sigkill_at_random_moments_then_drain(stack_settings: Settings, tmp_path: Path) -> None:
    contract, path = unique_contract(tmp_path)
    total = 30_000
    expected = _simulate(stack_settings, contract, total, seed=5)
    rng = random.Random(42)
    # Fault points between the sinks' commits (the lake committed, Postgres not yet), then random kills.
    plans: list[dict[str, str]] = [
        {"LAKESMITH_FAULT_KILL_AFTER": "silver:2"},
        {"LAKESMITH_FAULT_KILL_AFTER": "bronze:1"},
        {"LAKESMITH_FAULT_KILL_AFTER": "timeseries:3"},
        {"LAKESMITH_FAULT_KILL_AFTER": "quarantine:2"},
        {},  # one random moment here: test_crash_many_kills has 22 of them
    ]
    kills = 0
    for extra in plans:
        worker = WorkerProcess(path, worker_env(stack_settings, **extra))
        if extra:
            worker.proc.wait(120)
            assert worker.proc.returncode == -signal.SIGKILL, "".join(worker.lines[-20:])
        else:
            assert worker.wait_for_batches(1), "".join(worker.lines[-20:])
            time.sleep(rng.uniform(0.0, 0.6))
            worker.kill()
        kills += 1
    assert kills >= 5
    final = WorkerProcess(path, worker_env(stack_settings))
    assert final.proc.wait(300) == 0, "".join(final.lines[-30:])
    _check_exactly_once(stack_settings, contract, expected, total)


def test_two_workers_share_six_partitions(stack_settings: Settings, tmp_path: Path) -> None:
    contract, path = unique_contract(tmp_path)
    total = 30_000
    expected = _simulate(stack_settings, contract, total, seed=9)
    workers = [WorkerProcess(path, worker_env(stack_settings)) for _ in range(2)]
    for w in workers:
        assert w.proc.wait(300) == 0, "".join(w.lines[-30:])
    assert all(w.committed_batches() > 0 for w in workers), (
        "both workers should have processed batches"
    )
    _check_exactly_once(stack_settings, contract, expected, total)


def test_sigterm_stops_a_continuous_worker_cleanly(
    stack_settings: Settings, tmp_path: Path
) -> None:
    contract, path = unique_contract(tmp_path)
    expected = _simulate(stack_settings, contract, 3000, seed=2)
    proc = subprocess.Popen(
        [sys.executable, "-m", "lakesmith", "run", str(path)],
        env=worker_env(stack_settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):  # tables appear once the worker has started
            if read_sinks(stack_settings, contract).bronze.height == 3000:
                break
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    _check_exactly_once(stack_settings, contract, expected, 3000)
