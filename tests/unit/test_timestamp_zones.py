"""Timestamps without a zone: rejected by default, local time when the contract names a
zone (seconds, minutes or a date alone); inference reads them as UTC."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest
from pydantic import ValidationError

from lakesmith.contracts.model import FieldSpec
from lakesmith.quality.typing import typed

TEXTS = ["2009-12-01 07:45:00", "2009-07-01T07:45:00.5", "2009-12-01T07:45:00+01:00", "junk", None]


def _typed(f: FieldSpec) -> pl.DataFrame:
    value, error = typed(f)
    return pl.DataFrame({"t": TEXTS}).select(value, error.alias("err"))


def test_naive_timestamps_fail_without_a_zone() -> None:
    out = _typed(FieldSpec(name="t", type="timestamp"))
    assert out["err"].to_list() == [True, True, False, True, False]


def test_naive_timestamps_are_local_time_of_the_declared_zone() -> None:
    out = _typed(FieldSpec(name="t", type="timestamp", timezone="Europe/London"))
    assert out["err"].to_list() == [False, False, False, True, False]
    assert out["t"].to_list()[:3] == [
        datetime(2009, 12, 1, 7, 45, tzinfo=UTC),  # GMT in winter
        datetime(2009, 7, 1, 6, 45, 0, 500000, tzinfo=UTC),  # BST in summer
        datetime(2009, 12, 1, 6, 45, tzinfo=UTC),  # an explicit offset wins
    ]


def test_unknown_zone_and_zone_on_non_timestamps_are_contract_errors() -> None:
    with pytest.raises(ValidationError, match="unknown timezone 'Mars/Olympus'"):
        FieldSpec(name="t", type="timestamp", timezone="Mars/Olympus")
    with pytest.raises(ValidationError, match="timestamp fields only"):
        FieldSpec(name="t", type="string", timezone="UTC")


def test_minutes_only_and_dates_alone_read_as_local_time() -> None:
    f = FieldSpec(name="t", type="timestamp", timezone="UTC")
    value, error = typed(f)
    texts = ["2024-02-02 12:00", "2024-02-02T12:05", "2024-02-03", "2024-13-01", "2024-02-03 1"]
    out = pl.DataFrame({"t": texts}).select(value, error.alias("err"))
    assert out["err"].to_list() == [False, False, False, True, True]
    assert out["t"].to_list()[:3] == [
        datetime(2024, 2, 2, 12, 0, tzinfo=UTC),
        datetime(2024, 2, 2, 12, 5, tzinfo=UTC),
        datetime(2024, 2, 3, tzinfo=UTC),  # a date alone is midnight
    ]


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        (["2024-01-31", "2024-02-01", None], ("timestamp", "UTC")),  # dates alone
        (["2024-01-31 10:00", "2024-01-31T10:00:00.5"], ("timestamp", "UTC")),
        (["2024-01-31 10:00:00", "2024-02-01T11:30:00Z"], ("timestamp", "UTC")),  # mixed
        (["2024-02-01T11:30:00Z", "2024-02-01T11:30:00+01:00"], ("timestamp", None)),
        (["2024-01-31", "31/01/2024"], ("string", None)),  # another date format: text
        (["2024-01-31", "soon"], ("string", None)),
    ],
)
def test_inferred_timestamps(texts: list[str | None], expected: tuple[str, str | None]) -> None:
    from lakesmith.contracts.infer import infer_type

    assert infer_type(pl.Series(texts, dtype=pl.String)) == expected
