"""Declarative rules (from the contract) compiled to vectorised Polars expressions.

Every rule becomes ``(rule_id, violated: Expr[bool], message: Expr[str])`` evaluated on
the *typed* frame. A null value never violates a value rule (``required`` says whether
null is allowed). Implicit rules come from the fields themselves:

- ``<field>_required``    a required field is missing or null
- ``<field>_type``        the value is present but not a valid <type> (e.g. "hot" for a double,
                          a timestamp that is not ISO-8601 with a zone)
- ``<field>_not_finite``  NaN or ±Infinity in a double field
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from lakesmith.contracts.model import (
    Contract,
    EnumRule,
    PatternRule,
    RangeRule,
    RequiredIfRule,
    TimeWindowRule,
    parse_duration,
)

TYPE_ERROR_SUFFIX = "__type_error"


@dataclass(frozen=True)
class CompiledRule:
    id: str
    violated: pl.Expr
    message: pl.Expr


def _msg(before: str, col: str, after: str) -> pl.Expr:
    """``before + <offending value as short text> + after``."""
    shown = pl.col(col).cast(pl.String).str.slice(0, 64)
    return pl.concat_str([pl.lit(before), shown, pl.lit(after)])


def compile_rules(contract: Contract, now: datetime) -> list[CompiledRule]:
    """All rules of ``contract`` (implicit first), with time windows relative to ``now``."""
    rules: list[CompiledRule] = []
    for f in contract.fields:
        col = pl.col(f.name)
        type_error = pl.col(f.name + TYPE_ERROR_SUFFIX)
        if f.required:
            rules.append(
                CompiledRule(
                    f"{f.name}_required",
                    col.is_null() & ~type_error,
                    pl.lit(f"{f.name} is required but missing or null"),
                )
            )
        rules.append(
            CompiledRule(
                f"{f.name}_type",
                type_error,
                pl.lit(
                    f"{f.name} is not a valid {f.type}" + (f" ({f.format})" if f.format else "")
                ),
            )
        )
        if f.type == "double":
            rules.append(
                CompiledRule(
                    f"{f.name}_not_finite",
                    col.is_nan() | col.is_infinite(),
                    _msg(f"{f.name} = ", f.name, " is not a finite number"),
                )
            )
    for r in contract.rules:
        col = pl.col(r.field)
        if isinstance(r, RangeRule):
            bad = pl.lit(False)  # NaN/±inf are reported once, by <field>_not_finite
            if r.min is not None:
                bad = bad | (col < r.min)
            if r.max is not None:
                bad = bad | (col > r.max)
            if contract.field(r.field).type == "double":
                bad = bad & col.is_finite()
            if r.min is not None and r.max is not None:
                text = f" outside [{r.min}, {r.max}]"
            elif r.min is not None:
                text = f" below the minimum {r.min}"
            else:
                text = f" above the maximum {r.max}"
            rules.append(
                CompiledRule(r.id, bad.fill_null(False), _msg(f"{r.field} = ", r.field, text))
            )
        elif isinstance(r, PatternRule):
            rules.append(
                CompiledRule(
                    r.id,
                    (~col.str.contains(r.pattern)).fill_null(False),
                    _msg(f"{r.field} = '", r.field, f"' does not match {r.pattern}"),
                )
            )
        elif isinstance(r, EnumRule):
            rules.append(
                CompiledRule(
                    r.id,
                    (~col.is_in(r.values)).fill_null(False),
                    _msg(f"{r.field} = '", r.field, f"' is not one of {r.values}"),
                )
            )
        elif isinstance(r, TimeWindowRule):
            latest = now + parse_duration(r.max_future)
            earliest = now - parse_duration(r.max_age)
            rules.append(
                CompiledRule(
                    r.id,
                    ((col > pl.lit(latest)) | (col < pl.lit(earliest))).fill_null(False),
                    _msg(
                        f"{r.field} = ",
                        r.field,
                        f" is more than {r.max_future} in the future or older than {r.max_age}",
                    ),
                )
            )
        elif isinstance(r, RequiredIfRule):
            cond = pl.col(r.when.field).cast(pl.String).is_in(r.when.values)
            type_error = pl.col(r.field + TYPE_ERROR_SUFFIX)  # reported by <field>_type
            rules.append(
                CompiledRule(
                    r.id,
                    (cond & col.is_null() & ~type_error).fill_null(False),
                    _msg(f"{r.field} is required when {r.when.field} = '", r.when.field, "'"),
                )
            )
    if any(r.message for r in contract.rules):
        custom = {r.id: r.message for r in contract.rules if r.message}
        rules = [
            CompiledRule(c.id, c.violated, pl.lit(custom[c.id])) if c.id in custom else c
            for c in rules
        ]
    return rules
