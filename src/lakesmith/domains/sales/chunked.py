"""The order lines of the W-SALES pipeline a chunk at a time, in bounded memory.

The customers (a million fit in memory) are integrated whole (``integrate``); the
order lines never are. Two passes over them:

1. **standardise** (``first_pass``): silver is read a data file at a time
   (``LakeTable.batches``) into chunks of about ``rows`` lines; each chunk is
   standardised and flagged by every rule that looks at one line (``clean.order_flags``,
   against the golden customers' id map) and spilled to a Parquet file of a temporary
   folder, with a 64-bit hash of its ``clean.LINE``. What needs every line is gathered
   on the way and is small: the lines per customer and country (no customer file), the
   lines per product name and category.
2. **duplicates** (``duplicates``): the hashes seen more than once among the clean
   lines (a streaming group-by of one column of the spill), then only those lines'
   values, compared exactly in input-row order: the same verdict as
   ``clean.order_reasons`` on the whole file, whatever the chunk boundaries.
3. **verdict** (``second_pass``): each spilled chunk gets its reasons
   (``clean.order_verdict``), its rejects become quarantine rows, its clean lines the
   star's fact rows and ``sales_enriched`` rows, handed to the caller chunk by chunk.

Memory: one chunk (standardised, about 1 GB per million lines at most), the customer
maps, and the hashes of one column's group-by; the order count only adds to disk.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

import polars as pl

from lakesmith.core.columns import RECORD_ID, RULE_IDS, SOURCE
from lakesmith.domains.sales import clean
from lakesmith.domains.sales.integrate import (
    UNKNOWN_CHANNEL,
    customer_attributes,
    lines_of,
    product_counts,
    products_from_counts,
)

if TYPE_CHECKING:
    from lakesmith.config import Settings

HASH = "__line_hash"
CHUNK_ROWS = 1_000_000


def of_stream(stream: str) -> pl.Expr:
    """The rows of one ingested file (``_source`` is ``stream#row=n``)."""
    return pl.col(SOURCE).str.starts_with(stream + "#")


def silver_chunks(
    settings: Settings, dataset: str, stream: str, rows: int = CHUNK_ROWS
) -> Iterator[pl.DataFrame]:
    """The silver rows of ``stream`` in chunks of about ``rows`` (one data file read at
    a time)."""
    from lakesmith.contracts import load_contract
    from lakesmith.pipeline.dataset import Dataset

    ds = Dataset(settings, load_contract(dataset))
    try:
        frames = (
            cast(pl.DataFrame, pl.from_arrow(batch)).filter(of_stream(stream))
            for table in ds.silver_tables.values()
            if table.exists()
            for batch in table.batches()
        )
        yield from rechunk(frames, rows)
    finally:
        ds.close()


def rechunk(frames: Iterable[pl.DataFrame], rows: int) -> Iterator[pl.DataFrame]:
    """``frames`` as chunks of ``rows`` rows (the last one smaller)."""
    held: list[pl.DataFrame] = []
    n = 0
    for frame in frames:
        if frame.height == 0:
            continue
        held.append(frame)
        n += frame.height
        while n >= rows:
            whole = pl.concat(held, how="diagonal_relaxed")
            yield whole.slice(0, rows)
            rest = whole.slice(rows)
            held, n = ([rest] if rest.height else []), rest.height
    if held:
        yield pl.concat(held, how="diagonal_relaxed")


@dataclass
class Spill:
    """The standardised, flagged order lines on disk, and what was gathered on the way."""

    folder: Path
    files: list[Path] = field(default_factory=list)
    rows: int = 0
    countries: list[pl.DataFrame] = field(default_factory=list)  # clean.country_counts
    products: list[pl.DataFrame] = field(default_factory=list)  # integrate.product_counts

    def scan(self) -> pl.LazyFrame:
        return pl.scan_parquet(self.files) if self.files else pl.LazyFrame()


def first_pass(
    chunks: Iterator[pl.DataFrame],
    xref: pl.DataFrame | None,
    guests: bool,
    folder: Path,
    say: Callable[[str], None] | None = None,
) -> Spill:
    """Standardise and flag every chunk, spill it to ``folder`` (see the module doc)."""
    spill = Spill(folder)
    for i, chunk in enumerate(chunks):
        o = clean.order_flags(clean.standardise_orders(chunk), xref, guests)
        o = o.with_columns(pl.struct(list(clean.LINE)).hash(seed=0).alias(HASH))
        if xref is None:
            spill.countries.append(clean.country_counts(o))
        spill.products.append(product_counts(o.filter(pl.col(clean.FLAGS) == 0)))
        path = folder / f"orders-{i:05d}.parquet"
        o.write_parquet(path, compression="lz4")
        spill.files.append(path)
        spill.rows += o.height
        if say is not None:
            say(f"standardised {spill.rows:,} order lines")
    return spill


def duplicates(spill: Spill) -> pl.Series:
    """``_record_id`` of every clean line that repeats an earlier one (by input row)."""
    if not spill.files:
        return pl.Series(RECORD_ID, [], pl.String)
    ok = spill.scan().filter(pl.col(clean.FLAGS) == 0)
    repeated = (
        ok.group_by(HASH).len().filter(pl.col("len") > 1).select(HASH).collect(engine="streaming")
    )
    if repeated.height == 0:
        return pl.Series(RECORD_ID, [], pl.String)
    candidates = (
        ok.filter(pl.col(HASH).is_in(repeated[HASH].implode()))
        .select(*clean.LINE, clean.ROW, SOURCE, RECORD_ID)
        .collect(engine="streaming")
        .sort(clean.ROW, SOURCE)
    )
    return candidates.filter(~pl.struct(list(clean.LINE)).is_first_distinct())[RECORD_ID]


def dim_product(spill: Spill, dups: pl.Series) -> pl.DataFrame:
    """``dim_product`` of the clean lines: the chunks' counts less the duplicates'."""
    counts = [*spill.products]
    if dups.len():
        repeated = (
            spill.scan()
            .filter(pl.col(RECORD_ID).is_in(dups.implode()))
            .select("product_id", "product_name", "category")
            .collect(engine="streaming")
        )
        counts.append(product_counts(repeated).with_columns(-pl.col("n")))
    if not counts:
        return products_from_counts(
            pl.DataFrame(
                schema={
                    "product_id": pl.String,
                    "product_name": pl.String,
                    "category": pl.String,
                    "n": pl.Int64,
                }
            )
        )
    return products_from_counts(pl.concat(counts))


@dataclass
class OrderChunk:
    """One chunk's outcome: its quarantine rows and its clean lines (``lines_of``)."""

    rejected: pl.DataFrame  # clean.quarantine_rows
    lines: pl.DataFrame


@dataclass
class Verdicts:
    clean: int = 0
    rejected: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    channels: set[str] = field(default_factory=set)


def second_pass(
    spill: Spill,
    dups: pl.Series,
    people: clean.Customers,
    product_dim: pl.DataFrame,
    guests: bool,
    totals: Verdicts,
) -> Iterator[OrderChunk]:
    """Every spilled chunk's verdict (see the module doc); ``totals`` add up as it goes."""
    attributes = customer_attributes(people)
    repeated = dups.implode()
    for path in spill.files:
        o = pl.read_parquet(path).drop(HASH)
        o = o.with_columns(
            ((pl.col(clean.FLAGS) == 0) & pl.col(RECORD_ID).is_in(repeated)).alias(clean.DUP)
        )
        judged = clean.order_verdict(o, guests)
        del o
        bad = judged.filter(pl.col(RULE_IDS).is_not_null())
        good = judged.filter(pl.col(RULE_IDS).is_null())
        del judged
        counts = bad.select(pl.col(RULE_IDS).explode().value_counts()).unnest(RULE_IDS)
        totals.reasons.update(dict(zip(counts[RULE_IDS], counts["count"], strict=True)))
        totals.rejected += bad.height
        totals.clean += good.height
        lines = lines_of(good, people, product_dim, attributes)
        totals.channels.update(lines["channel"].unique().to_list())
        yield OrderChunk(clean.quarantine_rows(bad, clean.ORDER_FIELDS), lines)


def channels(totals: Verdicts) -> pl.Series:
    """The channels of the clean lines (``dim_channel`` adds the known ones)."""
    return pl.Series("channel", sorted(totals.channels or {UNKNOWN_CHANNEL}), pl.String)


def spill_folder(settings: Settings) -> tempfile.TemporaryDirectory[str]:
    """A temporary folder for the spill, in the state dir (it can hold GBs)."""
    root = Path(settings.state_dir) / "tmp"
    root.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(prefix="sales-orders-", dir=root)


__all__ = [
    "CHUNK_ROWS",
    "OrderChunk",
    "Spill",
    "Verdicts",
    "channels",
    "dim_product",
    "duplicates",
    "first_pass",
    "of_stream",
    "rechunk",
    "second_pass",
    "silver_chunks",
    "spill_folder",
]
