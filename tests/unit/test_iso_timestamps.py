"""ISO 8601 texts with a zone parse to the same timestamps (and the same nulls) on the
fast path (Arrow's ISO cast, texts of the common shape) as with the chrono format."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_series_equal

from lakesmith.quality.typing import ISO8601_WITH_ZONE, TIMESTAMP, iso_with_zone

CANONICAL = [
    "2025-01-01T00:00:00+00:00",
    "2025-01-01T00:00:00.1+00:00",
    "2025-01-01T00:00:00.123+05:30",
    "2025-06-30T23:59:59.999999-01:00",
    "1969-12-31T23:59:59.5+23:59",
    "2024-02-29T12:00:00-12:00",
    "0001-01-01T00:00:00+00:00",
    "9999-12-31T23:59:59.999999+00:00",
    "2025-01-01T00:00:00.000000-23:59",
    "2025-01-01T00:00:00Z",
    "2025-01-20T10:15:00.123Z",
    None,
]
ODD = [
    "2025-02-30T00:00:00+00:00",  # no such day: both null
    "2025-01-01T23:59:60+00:00",  # leap second: chrono's, not the common shape
    "2025-01-01T24:00:00+00:00",
    "2025-01-01T00:00:00+0100",
    "2025-01-01T00:00:00z",
    "2025-01-01T00:00:00.1234567+00:00",  # 7 decimals
    "2025-01-01 00:00:00+00:00",
    "2025-01-01T00:00:00",  # no zone
    "2025-01-01",
    "20250101T000000+00:00",
    "  2025-01-01T00:00:00+00:00",
    "2025-13-01T00:00:00+00:00",
    "not a time",
    "",
]


def _exact(texts: pl.Series) -> pl.Series:
    return texts.str.to_datetime(ISO8601_WITH_ZONE, time_zone="UTC", time_unit="us", strict=False)


@pytest.mark.parametrize(
    "values",
    [CANONICAL, [None, None], [], *([v] for v in ODD), CANONICAL + ODD[:1], ODD + CANONICAL],
)
def test_same_values_as_the_chrono_format(values: list[str | None]) -> None:
    texts = pl.Series("ts", values, dtype=pl.String)
    got = iso_with_zone(texts)
    assert got.dtype == TIMESTAMP
    assert_series_equal(got, _exact(texts))


def test_the_common_shape_takes_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = pl.Series("ts", CANONICAL * 100, dtype=pl.String)
    expected = _exact(texts)

    def no_format(*args: object, **kwargs: object) -> None:
        raise AssertionError("the common shape must not be parsed by the chrono format")

    monkeypatch.setattr(pl.series.string.StringNameSpace, "to_datetime", no_format)
    assert_series_equal(iso_with_zone(texts), expected)


def test_in_a_mixed_batch_only_the_odd_texts_are_parsed_by_the_format(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A few bad or odd texts in a batch (a stream's bad records) do not send the whole
    batch to the slow format: it sees only them."""
    odd = ODD[1:]  # not Feb 30: of the common shape, it sends the batch to the format
    texts = pl.Series("ts", CANONICAL * 100 + odd, dtype=pl.String)
    expected = _exact(texts)
    seen: list[list[str]] = []
    original = pl.series.string.StringNameSpace.to_datetime

    def spy(self: object, *args: object, **kwargs: object) -> pl.Series:
        series = self._s  # type: ignore[attr-defined]
        seen.append([v for v in pl.Series(series).to_list() if v is not None])
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pl.series.string.StringNameSpace, "to_datetime", spy)
    assert_series_equal(iso_with_zone(texts), expected)
    assert seen == [[v for v in odd if v is not None]]


def test_typed_timestamp_field_value_and_type_error() -> None:
    """Through ``typed`` (lazy, the value used twice): same values and type errors."""
    from lakesmith.contracts.model import FieldSpec
    from lakesmith.quality.typing import typed

    field = FieldSpec(name="ts", type="timestamp")
    for values in (CANONICAL * 50, ODD + CANONICAL):
        frame = pl.DataFrame({"ts": values}, schema={"ts": pl.String})
        value, error = typed(field)
        got = frame.lazy().with_columns(error.alias("bad"), value).collect()
        expected = _exact(frame["ts"])
        assert_series_equal(got["ts"], expected)
        assert got["bad"].to_list() == (frame["ts"].is_not_null() & expected.is_null()).to_list()
