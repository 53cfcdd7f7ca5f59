"""``lakesmith profile``: the mergeable sketches and a file's profile against exact
figures computed with Polars (no services)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from lakesmith.cli import app
from lakesmith.quality.profile import profile_file
from lakesmith.quality.sketches import BottomK, FrequentItems, HyperLogLog


@pytest.mark.parametrize("n", [0, 7, 5_000, 400_000])
def test_hyperloglog_estimates_within_its_error_and_merges_like_one(n: int) -> None:
    values = pl.Series(np.arange(n) * 7919 % 1_000_003).cast(pl.String)
    whole, left, right = HyperLogLog(), HyperLogLog(), HyperLogLog()
    whole.add(values)
    left.add(values[: n // 3])
    right.add(values[n // 3 :])
    left.merge(right)
    assert np.array_equal(left.registers, whole.registers)  # merged = seen at once
    assert abs(whole.estimate() - n) <= max(3 * whole.relative_error * n, 1)


def test_bottom_k_is_exact_when_small_and_a_uniform_sample_when_large() -> None:
    small = BottomK(k=100)
    small.add(pl.Series([3, 1, 2]))
    assert sorted(small.sample().to_list()) == [1, 2, 3]
    big = BottomK(k=20_000)
    for start in range(0, 1_000_000, 100_000):
        big.add(pl.Series(np.arange(start, start + 100_000)))
    sample = big.sample()
    assert sample.len() == 20_000 and sample.n_unique() == 20_000
    assert abs(float(sample.median() or 0) - 500_000) < 15_000  # ±3 sigma of a 20k sample


def test_frequent_items_keep_heavy_hitters_with_bounded_error() -> None:
    rng = np.random.default_rng(1)
    heavy = np.repeat(["a", "b", "c"], [30_000, 20_000, 10_000])
    noise = rng.integers(0, 50_000, 140_000).astype(str)
    values = np.concatenate([heavy, noise])
    rng.shuffle(values)
    items = FrequentItems(capacity=100)
    for part in np.array_split(values, 17):
        items.add(pl.Series(part))
    top = dict(items.top(3))
    assert list(top) == ["a", "b", "c"]
    bound = len(values) / 101
    for value, exact in (("a", 30_000), ("b", 20_000), ("c", 10_000)):
        assert exact - bound <= top[value] <= exact


def test_profile_of_a_csv_matches_exact_figures(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n = 60_000
    frame = pl.DataFrame(
        {
            "id": np.arange(n),
            "amount": np.round(rng.normal(100, 15, n), 2),
            "city": rng.choice(["Paris", "Lyon", "Nice", None], n, p=[0.5, 0.3, 0.1, 0.1]),
        }
    )
    path = tmp_path / "sales.csv"
    frame.write_csv(path)
    with path.open("ab") as out:  # two duplicated rows and a value of the wrong type
        out.write(b"0,100.0,Paris\n0,100.0,Paris\nx,1.0,Lyon\n")
    p = profile_file(path, chunk_rows=7_000)
    assert p.rows == n + 3 and p.duplicate_rows == 1 and p.duplicates_exact
    cols = {c.name: c for c in p.columns}
    assert cols["id"].type == "long" and cols["id"].invalid == 1
    amount = cols["amount"]
    assert amount.type == "double" and amount.nulls == 0
    assert amount.minimum == min(frame["amount"].min(), 1.0)  # type: ignore[type-var]
    assert amount.mean == pytest.approx((frame["amount"].sum() + 201.0) / (n + 3))
    assert amount.quantiles()[0.5] == pytest.approx(100, abs=1.0)
    city = cols["city"]
    assert city.nulls == frame["city"].null_count()
    assert city.distinct_estimate == 3
    assert [v for v, _ in city.frequent.top(3)] == ["Paris", "Lyon", "Nice"]
    hist = amount.histogram()
    assert hist is not None and hist[0].sum() == pytest.approx(amount.present)


def test_profile_command_prints_a_table_and_writes_html(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_bytes(b'{"a": 1, "t": "2024-01-01T00:00:00Z"}\n\n{"a": 3, "t": null}\n')
    report = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["profile", str(path), "--html", str(report)])
    assert result.exit_code == 0, result.output
    assert "2 rows, 2 columns" in result.output
    html = report.read_text()
    assert html.count("data:image/png;base64,") >= 2 and "<h2>a</h2>" in html


@pytest.mark.parametrize("content", [b"", b"a,b,c\n"], ids=["empty", "header_only"])
def test_profile_of_a_file_without_rows(tmp_path: Path, content: bytes) -> None:
    # no data rows: an empty profile, not a crash in the duplicate count
    path = tmp_path / "none.csv"
    path.write_bytes(content)
    p = profile_file(path)
    assert p.rows == 0 and p.duplicate_rows == 0
    report = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["profile", str(path), "--html", str(report)])
    assert result.exit_code == 0, result.output
    assert report.exists()


def test_missing_value_markers_count_as_nulls_not_values(tmp_path: Path) -> None:
    path = tmp_path / "na.csv"
    path.write_bytes(b"id,temp\n1,21.5\n2,NA\n3,\n4,hot\n5,22\n")
    p = profile_file(path)
    (temp,) = [c for c in p.columns if c.name == "temp"]
    assert temp.type == "string"  # "hot" is text: nothing is missing but the empty value
    path.write_bytes(b"id,temp\n1,21.5\n2,NA\n3,\n4,N/A\n5,22\n")
    p = profile_file(path)
    (temp,) = [c for c in p.columns if c.name == "temp"]
    assert temp.type == "double"
    assert (temp.nulls, temp.invalid, temp.null_pct) == (3, 0, 60.0)
    assert (temp.minimum, temp.maximum) == (21.5, 22.0)
