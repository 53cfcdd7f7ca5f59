"""Dataset contracts: schema (with versions), keys, partitioning, evolution policy and DQ rules.

A contract is YAML validated by the Pydantic models in ``model``; tables, DDL,
validation and docs are all derived from it. Built-in contracts live next to their
domain (``lakesmith/domains/*/*.yaml``) and are found by name with ``load_contract``.
"""

from lakesmith.contracts.loader import builtin_contracts, load_contract
from lakesmith.contracts.model import Contract, FieldSpec, RuleSpec

__all__ = ["Contract", "FieldSpec", "RuleSpec", "builtin_contracts", "load_contract"]
