"""The example source of docs/adding-a-source.md, registered at run time, end to end."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from lakesmith.config import Settings
from lakesmith.core.errors import ContractError
from lakesmith.pipeline.worker import Worker
from lakesmith.sources.registry import register_source
from lakesmith.testing.example_source import MemorySource
from lakesmith.testing.pipeline import read_sinks, unique_contract
from lakesmith.testing.sink_suite import reading

pytestmark = pytest.mark.integration


def test_registered_source_runs_through_the_worker(
    stack_settings: Settings, tmp_path: Path
) -> None:
    register_source("memory", "lakesmith.testing.example_source")
    contract, _ = unique_contract(tmp_path, source={"kind": "memory", "name": "readings"})
    records = [reading(i, bad=i % 10 == 0) for i in range(250)]
    records.append(b"{not json")
    records.append(orjson.dumps({"device_id": "dev-1"}))  # no timestamp
    MemorySource.data["readings"] = records
    settings = stack_settings.model_copy(
        update={"worker": stack_settings.worker.model_copy(update={"batch_size": 60})}
    )
    worker = Worker(settings, contract)
    try:
        first = worker.run(max_batches=2)
    finally:
        worker.close()
    assert first.records == 120
    worker = Worker(settings, contract)  # a restart resumes from the sinks' positions
    try:
        rest = worker.run(until_idle=True)
    finally:
        worker.close()
    assert rest.records == len(records) - 120
    sinks = read_sinks(settings, contract)
    assert sinks.bronze.height == len(records)
    assert sinks.bronze["_source"].str.starts_with("memory://readings#").all()
    assert sinks.quarantine.height == 25 + 2
    assert sinks.silver.height == len(records) - 27


def test_unknown_kind_and_format_are_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(
        ContractError, match=r"unknown source kind 'kafak' \(did you mean 'kafka'\?\)"
    ):
        unique_contract(tmp_path, source={"kind": "kafak", "topic": "t"})
    with pytest.raises(ContractError, match="unknown payload format 'xml'"):
        unique_contract(tmp_path, payload={"format": "xml"})


def test_missing_optional_library_names_the_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "needs_lib_source.py").write_text("import lakesmith_absent_library_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    register_source("needslib", "needs_lib_source", extra="needslib")
    with pytest.raises(ContractError) as err:
        unique_contract(tmp_path, source={"kind": "needslib"})
    text = str(err.value)
    assert "lakesmith_absent_library_xyz" in text
    assert "pip install 'lakesmith[needslib]'" in text
    assert len(text.splitlines()) <= 2


def test_waiting_for_records_is_not_active_time(
    stack_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A source that blocks on an empty poll (as Kafka's does, up to ``max_wait_s``): the
    wait is not counted as the worker's active time, also when a batch is still being
    written, and the last batch's commit time is when its writes ended, not when the loop
    got back to it after the wait (both made the IoT figure wrong)."""
    register_source("memory", "lakesmith.testing.example_source")
    contract, _ = unique_contract(tmp_path, source={"kind": "memory", "name": "slow"})
    MemorySource.data["slow"] = [reading(i) for i in range(100)]
    wait = 1.5
    empty_polls: list[float] = []
    plain_poll = MemorySource.poll

    def blocking_poll(self: MemorySource, max_records: int, max_wait_s: float) -> Any:
        batch = plain_poll(self, max_records, max_wait_s)
        if len(batch) == 0:
            empty_polls.append(time.time())
            time.sleep(max_wait_s)  # nothing arrived within the wait
        return batch

    monkeypatch.setattr(MemorySource, "poll", blocking_poll)
    worker_settings = stack_settings.worker.model_copy(
        update={"batch_size": 100, "max_wait_s": wait, "idle_timeout_s": 0.1}
    )
    worker = Worker(stack_settings.model_copy(update={"worker": worker_settings}), contract)
    try:
        stats = worker.run(until_idle=True)
    finally:
        worker.close()
    assert stats.records == 100 and len(empty_polls) >= 2
    # every empty poll waited ``wait``; none of it is active time
    assert stats.seconds - stats.active_seconds >= len(empty_polls) * wait - 0.2
    # the batch was written during the first empty poll's wait: its commit time is then
    assert stats.last_commit_at is not None
    assert stats.last_commit_at < empty_polls[0] + wait
