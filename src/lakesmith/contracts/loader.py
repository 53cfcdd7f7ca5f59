"""Find and load contracts: built-in ones by name, or any YAML file by path.

String values may name environment variables, so one contract serves every deployment
(a bucket, topic or URL that differs per environment): ``${NAME}`` (must be set),
``${NAME:-default}`` (the default when unset or empty), ``$${`` for a literal ``${``.
Secrets do not belong here: sources read them from ``*_env`` settings when they open.
"""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from lakesmith.contracts.model import Contract
from lakesmith.core.errors import ContractError, validation_problems

DOMAINS_DIR = Path(__file__).resolve().parent.parent / "domains"
_VAR = re.compile(r"\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(data: Any, where: str) -> Any:
    """``data`` with ``${NAME}`` / ``${NAME:-default}`` in its strings replaced from the
    environment (a ``ContractError`` naming an unset variable without a default)."""
    if isinstance(data, dict):
        return {k: expand_env(v, where) for k, v in data.items()}
    if isinstance(data, list):
        return [expand_env(v, where) for v in data]
    if not isinstance(data, str) or "${" not in data:
        return data

    def one(m: re.Match[str]) -> str:
        escaped, name, default = m.groups()
        if escaped:
            return m.group(0)[1:]
        value = os.environ.get(name)
        if value:
            return value
        if default is not None:
            return default
        raise ContractError(
            f"contract {where} uses ${{{name}}}, which is not set",
            hint=f"set {name}, or give a default in the contract: ${{{name}:-value}}",
        )

    return _VAR.sub(one, data)


def load_contract_file(path: Path) -> Contract:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ContractError(f"cannot read contract {path}: {exc}") from None
    data = expand_env(data, str(path))
    try:
        return Contract.model_validate(data)
    except ValidationError as exc:
        raise ContractError(f"invalid contract {path}: {validation_problems(exc)}") from None


@cache
def builtin_contracts() -> dict[str, Contract]:
    """Every contract shipped under ``lakesmith/domains``, by dataset name."""
    found: dict[str, Contract] = {}
    for path in sorted(DOMAINS_DIR.glob("*/*.yaml")):
        c = load_contract_file(path)
        found[c.name] = c
    return found


def stored_contract_path(state_dir: Path, dataset: str) -> Path:
    """Where ``lakesmith ingest`` keeps a dataset's contract (inferred or given)."""
    return Path(state_dir) / "contracts" / f"{dataset}.yaml"


def stored_contracts(state_dir: Path) -> dict[str, Contract]:
    """The contracts ``lakesmith ingest`` inferred (and uploads created), kept in the state
    dir's ``contracts/`` folder, by dataset name; an unreadable file is skipped."""
    found: dict[str, Contract] = {}
    folder = Path(state_dir) / "contracts"
    if folder.is_dir():
        for path in sorted(folder.glob("*.yaml")):
            try:
                c = load_contract_file(path)
            except ContractError:
                continue
            found.setdefault(c.name, c)
    return found


def known_contracts(state_dir: Path | None = None) -> dict[str, Contract]:
    """Built-in contracts, then (when ``state_dir`` is given) the stored ones; a built-in
    name wins over a stored contract of the same name."""
    found = dict(builtin_contracts())
    if state_dir is not None:
        for name, c in stored_contracts(state_dir).items():
            found.setdefault(name, c)
    return found


def load_contract(name_or_path: str, state_dir: Path | None = None) -> Contract:
    """A contract by path (``x.yaml``), or by name: built-in (``iot.telemetry``) or, with
    ``state_dir``, one that ``lakesmith ingest`` inferred and stored there."""
    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml"}:
        return load_contract_file(path)
    if name_or_path in builtin_contracts():
        return builtin_contracts()[name_or_path]
    stored = stored_contract_path(state_dir, name_or_path) if state_dir is not None else None
    if stored is not None and stored.is_file():
        return load_contract_file(stored)
    contracts = known_contracts(state_dir)  # only to name them in the error
    if name_or_path not in contracts:
        raise ContractError(
            f"unknown dataset {name_or_path!r}; known: {', '.join(sorted(contracts)) or 'none'}",
            hint="pass a contract YAML path instead of a name",
        )
    return contracts[name_or_path]
