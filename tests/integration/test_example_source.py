"""The example source of docs/adding-a-source.md, registered at run time, end to end."""

from __future__ import annotations

from pathlib import Path

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
