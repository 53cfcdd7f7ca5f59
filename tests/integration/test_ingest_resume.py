"""``lakesmith ingest`` killed with SIGKILL (between two sinks' commits, and at a random
moment) and restarted with the same command: no duplicate and no missing row."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from lakesmith.config import Settings
from lakesmith.contracts.loader import load_contract_file
from lakesmith.pipeline.ingest import stored_contract_path
from lakesmith.pipeline.worker import FAULT_ENV
from lakesmith.testing.files import lakesmith_cmd, write_csv
from lakesmith.testing.pipeline import read_sinks
from lakesmith.testing.stack import worker_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_sigkill_and_the_same_command_again(stack_settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    good = write_csv(path, 9 * 1024 * 1024)
    with path.open("ab") as out:  # rows the contract inferred from the head rejects
        out.write(b"not_a_number,2025-01-01T00:00:00.000+00:00,u,DE,1.0,1,true\n" * 7)
    total = good + 7
    dataset = f"resume.orders_{uuid.uuid4().hex[:8]}"
    env = worker_env(stack_settings)
    cmd = lakesmith_cmd(
        "--log-level", "WARNING", "ingest", str(path), "--dataset", dataset,
        "--memory-limit", "520MiB", "--no-progress",
    )  # fmt: skip
    # 1. killed by the worker's fault hook right after the 2nd silver commit (bronze and
    #    quarantine may be ahead or behind: the sinks commit concurrently)
    first = subprocess.run(cmd, env={**env, FAULT_ENV: "silver:2"}, capture_output=True)
    assert first.returncode == -signal.SIGKILL, first.stderr.decode()[-2000:]
    # 2. killed from outside at some moment of the next run
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(9.0)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    # 3. the same command to the end
    last = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert last.returncode == 0, last.stderr[-2000:]
    assert "to quarantine (id_type 7)" in last.stdout or "no new rows" in last.stdout

    contract = load_contract_file(stored_contract_path(stack_settings, dataset))
    sinks = read_sinks(stack_settings, contract)
    assert sinks.bronze.height == sinks.bronze["_record_id"].n_unique() == total
    assert sinks.silver.height == sinks.silver["_record_id"].n_unique() == good
    assert sinks.quarantine.height == 7
    assert sorted(sinks.silver["id"].to_list()) == list(range(good))  # none missing


def test_ctrl_c_ends_after_the_batch_in_flight_and_the_same_command_continues(
    stack_settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "orders.csv"
    rows = write_csv(path, 9 * 1024 * 1024)
    dataset = f"resume.stop_{uuid.uuid4().hex[:8]}"
    env = worker_env(stack_settings)
    cmd = lakesmith_cmd(
        "ingest", str(path), "--dataset", dataset, "--memory-limit", "520MiB", "--no-progress"
    )
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    seen: list[str] = []
    for line in proc.stderr:  # the log: stop once the first batch is committed
        seen.append(line)
        if '"batch_committed"' in line:
            break
    else:
        raise AssertionError("".join(seen)[-3000:])
    proc.send_signal(signal.SIGINT)
    stopped_at = time.monotonic()
    _, err = proc.communicate(timeout=120)
    err = "".join(seen) + err
    assert proc.returncode == 130, err[-3000:]
    assert time.monotonic() - stopped_at < 60
    assert "interrupted; run the same command again to continue" in err, err[-3000:]
    assert "Traceback" not in err, err[-3000:]

    last = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert last.returncode == 0, last.stderr[-2000:]
    contract = load_contract_file(stored_contract_path(stack_settings, dataset))
    sinks = read_sinks(stack_settings, contract)
    assert sinks.silver.height == sinks.silver["_record_id"].n_unique() == rows
    assert sorted(sinks.silver["id"].to_list()) == list(range(rows))
