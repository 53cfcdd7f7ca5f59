"""Validate a decoded batch: type it, evaluate every rule, split valid from quarantined.

Input: the decoded frame (field texts + parse error columns, see ``decode``) plus any
envelope columns. Output: the typed valid rows, and the invalid rows with
``_rule_ids``/``_messages`` lists naming every failing rule. Both carry
``_schema_version``. All of it is Polars expressions: no per-row Python. Messages (text
formatting is the costly part) are built only for the invalid rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from lakesmith.contracts.model import Contract
from lakesmith.core.columns import MESSAGES, RULE_IDS, SCHEMA_VERSION
from lakesmith.formats.base import PARSE_DETAIL, PARSE_ERROR
from lakesmith.quality.rules import TYPE_ERROR_SUFFIX, compile_rules
from lakesmith.quality.typing import typed

_BAD = "__bad"


@dataclass(frozen=True)
class Validated:
    valid: pl.DataFrame
    invalid: pl.DataFrame  # with _rule_ids, _messages
    versions: pl.Series  # _schema_version of every input row, in input order


def schema_version_expr(contract: Contract) -> pl.Expr:
    """The version of each record: the newest version whose fields it carries."""
    newer = [
        pl.when(pl.col(f.name).is_not_null()).then(pl.lit(f.since))
        for f in contract.fields
        if f.since > 1
    ]
    return pl.max_horizontal([pl.lit(1), *newer]).cast(pl.Int32)


def validate(frame: pl.DataFrame, contract: Contract, now: datetime) -> Validated:
    """Type ``frame`` per the contract and split it into valid and invalid rows."""
    schema = frame.schema  # once: polars builds the whole schema on every access
    typed_cols = [typed(f, schema.get(f.name)) for f in contract.fields]
    type_error_cols = [f.name + TYPE_ERROR_SUFFIX for f in contract.fields]
    rules = compile_rules(contract, now)
    parse_failed = pl.col(PARSE_ERROR).is_not_null()
    version = (
        pl.when(parse_failed).then(pl.lit(None, pl.Int32)).otherwise(schema_version_expr(contract))
    )
    typed_frame = (  # lazy: each field's typing expression, used twice, is computed once
        frame.lazy()
        .with_columns(
            version.alias(SCHEMA_VERSION),
            *[err.alias(name) for name, (_, err) in zip(type_error_cols, typed_cols, strict=True)],
            *[value for value, _ in typed_cols],
        )
        .with_columns(
            pl.any_horizontal(parse_failed, *[r.violated.fill_null(False) for r in rules]).alias(
                _BAD
            )
        )
        .collect()
    )

    valid = typed_frame.filter(~pl.col(_BAD)).drop(
        [*type_error_cols, PARSE_ERROR, PARSE_DETAIL, _BAD]
    )
    # A record that did not parse fails only its parse rule; the field rules are moot.
    failing = [pl.when(~parse_failed & r.violated.fill_null(False)) for r in rules]
    invalid = (
        typed_frame.filter(pl.col(_BAD))
        .with_columns(
            pl.concat_list(
                [
                    pl.col(PARSE_ERROR),
                    *[w.then(pl.lit(r.id)) for w, r in zip(failing, rules, strict=True)],
                ]
            )
            .list.drop_nulls()
            .alias(RULE_IDS),
            pl.concat_list(
                [
                    pl.col(PARSE_DETAIL),
                    *[w.then(r.message) for w, r in zip(failing, rules, strict=True)],
                ]
            )
            .list.drop_nulls()
            .alias(MESSAGES),
        )
        .drop([*type_error_cols, PARSE_ERROR, PARSE_DETAIL, _BAD])
    )
    return Validated(valid=valid, invalid=invalid, versions=typed_frame.get_column(SCHEMA_VERSION))
