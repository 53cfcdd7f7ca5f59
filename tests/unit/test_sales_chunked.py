"""The order lines integrated a chunk at a time (``sales.chunked``, what ``run_sales``
does) give exactly what the whole-file integration gives: the same clean lines with the
same keys and attributes, the same rejects with the same reasons, the same dimensions,
whatever the chunk size and the order the chunks come in."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from lakesmith.core.columns import RECORD_ID, RULE_IDS, SCHEMA_VERSION, SOURCE
from lakesmith.domains.sales import chunked, clean
from lakesmith.domains.sales.generator import SalesSimConfig, write_all
from lakesmith.domains.sales.gold import MODEL
from lakesmith.domains.sales.integrate import dimensions, integrate, lines, quarantine, star
from lakesmith.domains.sales.pipeline import _from_orders, _with_guest
from lakesmith.gold.model import conform

CONFIG = SalesSimConfig(customers=1_500, orders=15_000, seed=3, chunk_rows=5_000)


def _silver(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    text = frame.with_columns(pl.all().cast(pl.String))
    return text.with_columns(
        pl.format("{}-{}", pl.lit(name), pl.int_range(pl.len())).alias(RECORD_ID),
        pl.format("file:///{}@1-1#row={}", pl.lit(name), pl.int_range(pl.len())).alias(SOURCE),
        pl.lit(1, pl.Int32).alias(SCHEMA_VERSION),
    )


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[pl.DataFrame, pl.DataFrame]:
    out = tmp_path_factory.mktemp("sales-chunked")
    write_all(CONFIG, out)
    customers = _silver(pl.read_parquet(out / "customer_data.parquet"), "c")
    orders = _silver(pl.read_csv(out / "sales_data.csv", infer_schema=False), "o")
    return customers, orders


def _sorted(frame: pl.DataFrame, key: str) -> pl.DataFrame:
    return frame.select(sorted(frame.columns)).sort(key)


@pytest.mark.parametrize(("with_customers", "guests"), [(True, False), (False, True)])
def test_chunks_in_any_order_give_the_whole_file_result(
    inputs: tuple[pl.DataFrame, pl.DataFrame], tmp_path: Path, with_customers: bool, guests: bool
) -> None:
    customers, orders = inputs
    whole = integrate(orders, customers if with_customers else None, guests=guests)
    expected = star(whole)
    # silver files come in any order: chunks of shuffled rows, so duplicates span chunks
    shuffled = orders.sample(fraction=1.0, shuffle=True, seed=1)
    pieces = (shuffled.slice(i, 1_300) for i in range(0, shuffled.height, 1_300))
    people = None
    if with_customers:
        people = clean.golden_customers(clean.standardise_customers(customers))
    xref = people.xref if people is not None else None
    spill = chunked.first_pass(chunked.rechunk(pieces, 4_000), xref, guests, tmp_path)
    assert len(spill.files) == 4 and spill.rows == orders.height
    if people is None:
        people = _from_orders(spill)
    if guests:
        people = _with_guest(people)
    dups = chunked.duplicates(spill)
    products = chunked.dim_product(spill, dups)
    totals = chunked.Verdicts()
    out = list(chunked.second_pass(spill, dups, people, products, guests, totals))

    assert totals.reasons == whole.reasons()
    assert totals.reasons["duplicate_line"] == dups.len() > 0
    assert totals.clean == whole.clean_orders.height
    assert totals.rejected == whole.rejected_orders.height
    fact = MODEL.table("fact_sales")
    got = conform(pl.concat([c.lines for c in out]), fact)
    assert_frame_equal(_sorted(got, "sales_key"), _sorted(conform(lines(whole), fact), "sales_key"))
    rejects = pl.concat([c.rejected for c in out]).select(RECORD_ID, RULE_IDS, "_payload")
    want = quarantine(whole).select(RECORD_ID, RULE_IDS, "_payload")
    assert_frame_equal(_sorted(rejects, RECORD_ID), _sorted(want, RECORD_ID))
    dims = dimensions(people, products, chunked.channels(totals))
    for name, frame in dims.items():
        key = MODEL.table(name).key
        assert_frame_equal(
            _sorted(conform(frame, MODEL.table(name)), key),
            _sorted(conform(expected[name], MODEL.table(name)), key),
        )


def test_rechunk_cuts_exact_sizes_and_keeps_every_row() -> None:
    frames = [
        pl.DataFrame({"x": list(range(i * 10, i * 10 + n))}) for i, n in enumerate([7, 0, 9, 3])
    ]
    chunks = list(chunked.rechunk(frames, 5))
    assert [c.height for c in chunks] == [5, 5, 5, 4]
    assert pl.concat(chunks)["x"].to_list() == pl.concat(frames)["x"].to_list()


def test_no_order_lines_at_all(tmp_path: Path) -> None:
    spill = chunked.first_pass(iter([]), None, False, tmp_path)
    dups = chunked.duplicates(spill)
    assert dups.len() == 0
    assert chunked.dim_product(spill, dups).height == 0
    assert _from_orders(spill).golden.height == 0


def test_customer_matching_in_small_batches_finds_the_same_people(
    inputs: tuple[pl.DataFrame, pl.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    from lakesmith.domains.sales import matching

    rows = clean.standardise_customers(inputs[0])
    whole = matching.match_customers(rows)
    monkeypatch.setattr(matching, "PAIRS_PER_BATCH", 7)  # many batches of a few blocks
    assert matching.match_customers(rows).to_list() == whole.to_list()
    assert whole.n_unique() < rows.height  # some rows were merged
