"""Find and load contracts: built-in ones by name, or any YAML file by path."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from pydantic import ValidationError

from lakesmith.contracts.model import Contract
from lakesmith.core.errors import ContractError

DOMAINS_DIR = Path(__file__).resolve().parent.parent / "domains"


def load_contract_file(path: Path) -> Contract:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ContractError(f"cannot read contract {path}: {exc}") from None
    try:
        return Contract.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ContractError(f"invalid contract {path}: {problems}") from None


@cache
def builtin_contracts() -> dict[str, Contract]:
    """Every contract shipped under ``lakesmith/domains``, by dataset name."""
    found: dict[str, Contract] = {}
    for path in sorted(DOMAINS_DIR.glob("*/*.yaml")):
        c = load_contract_file(path)
        found[c.name] = c
    return found


def load_contract(name_or_path: str) -> Contract:
    """A built-in contract by name (``iot.telemetry``) or a contract YAML file by path."""
    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml"}:
        return load_contract_file(path)
    contracts = builtin_contracts()
    if name_or_path not in contracts:
        raise ContractError(
            f"unknown dataset {name_or_path!r}; known: {', '.join(sorted(contracts)) or 'none'}",
            hint="pass a contract YAML path instead of a name",
        )
    return contracts[name_or_path]
