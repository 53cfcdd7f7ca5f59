"""An invalid contract file is reported field by field, in one line a user can act on."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lakesmith.contracts.loader import load_contract_file
from lakesmith.core.errors import ContractError


def test_field_and_whole_contract_problems_read_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    contract = {
        "name": "t.keyed",
        "source": {"kind": "file", "path": "/data/*.csv"},
        "payload": {"format": "csv"},
        "fields": [{"name": "id", "type": "long"}, {"name": "ts", "type": "timestamp"}],
        "keys": ["id"],
        "event_time": "ts",
    }
    path.write_text(yaml.safe_dump(contract))
    with pytest.raises(ContractError) as raised:  # a rule across fields: no empty location
        load_contract_file(path)
    assert raised.value.message == f"invalid contract {path}: key field 'id' must be required"
    contract["fields"][0]["type"] = "int"  # type: ignore[index]
    path.write_text(yaml.safe_dump(contract))
    with pytest.raises(ContractError, match=r"c\.yaml: fields\.0\.type: Input should be 'string'"):
        load_contract_file(path)
