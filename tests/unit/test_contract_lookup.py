"""``load_contract`` by name: built-in contracts, and with a state dir the contracts that
``lakesmith ingest`` inferred and stored there (what ``quarantine show NAME`` and the
other dataset commands use)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lakesmith.contracts.loader import builtin_contracts, known_contracts, load_contract
from lakesmith.core.errors import ContractError


def _store(state_dir: Path, name: str, field: str = "x") -> None:
    folder = state_dir / "contracts"
    folder.mkdir(parents=True, exist_ok=True)
    data = {
        "name": name,
        "source": {"kind": "file", "path": "/data/x.csv"},
        "payload": {"format": "csv"},
        "fields": [
            {"name": field, "type": "long"},
            {"name": "seen", "type": "timestamp", "path": "@source_ts"},
        ],
        "keys": [],
        "event_time": "seen",
    }
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(data))


def test_a_stored_contract_is_found_by_name_with_the_state_dir(tmp_path: Path) -> None:
    _store(tmp_path, "files.orders")
    (tmp_path / "contracts" / "broken.yaml").write_text("name: [unclosed")
    with pytest.raises(ContractError, match=r"unknown dataset 'files\.orders'"):
        load_contract("files.orders")  # without the state dir: built-ins only
    contract = load_contract("files.orders", tmp_path)
    assert contract.name == "files.orders" and [f.name for f in contract.fields] == ["x", "seen"]
    with pytest.raises(ContractError, match=r"files\.orders"):  # the message lists it
        load_contract("files.missing", tmp_path)


def test_a_builtin_name_wins_over_a_stored_contract(tmp_path: Path) -> None:
    _store(tmp_path, "iot.telemetry", field="shadow")
    known = known_contracts(tmp_path)
    assert known["iot.telemetry"] is builtin_contracts()["iot.telemetry"]
    assert load_contract("iot.telemetry", tmp_path) is builtin_contracts()["iot.telemetry"]
