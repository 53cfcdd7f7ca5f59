"""``payload.bronze_fields`` on the real lake: a bronze table made before the option was
set gains the decoded columns (older rows read null), new rows carry the PDF's hash, page
count and text equal to silver's, a hostile PDF is still quarantined with its reason, and
``reprocess --from bronze`` rebuilds silver and quarantine from the bytes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl
import pytest

from lakesmith.config import Settings
from lakesmith.core.records import RawBatch
from lakesmith.maintenance.reprocess import reprocess_from_bronze
from lakesmith.pipeline.dataset import Dataset
from lakesmith.testing.pipeline import read_sinks, unique_contract
from lakesmith.testing.sink_suite import process_into

pytestmark = pytest.mark.integration

FIELDS = ["sha256", "pages", "text"]


def _pdf(pages: int, word: str) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_keywords(f"doc_type=datasheet; model={word.upper()}-1")
    for i in range(pages):
        pdf.add_page()
        pdf.set_font("helvetica", size=11)
        pdf.multi_cell(0, 6, f"{word} page {i + 1}: calibrated every year.")
    return bytes(pdf.output())


def _batch(files: dict[str, bytes]) -> RawBatch:
    raw = RawBatch(source="file:///in", uri_sep="#row=")
    for name, data in files.items():
        raw.extend(
            f"file:///in/{name}@{len(data)}-1", [0], [data], timestamps_ms=[1_735_689_600_000]
        )
    return raw


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_bronze_table_gains_decoded_columns_and_reprocess_works(
    stack_settings: Settings, tmp_path: Path, fmt: str
) -> None:
    old, _ = unique_contract(tmp_path, "entities.documents", lake={"format": fmt})
    old = old.model_copy(update={"payload": old.payload.model_copy(update={"bronze_fields": []})})
    new = old.model_copy(
        update={"payload": old.payload.model_copy(update={"bronze_fields": FIELDS})}
    )
    first, second = _pdf(2, "alpha"), _pdf(3, "beta")
    ds = Dataset(stack_settings, old).ensure()
    try:
        process_into(ds, _batch({"a.pdf": first}))
        assert not set(FIELDS) & set(ds.bronze.column_names())
    finally:
        ds.close()
    ds = Dataset(stack_settings, new).ensure()  # the existing table evolves
    try:
        assert set(FIELDS) <= set(ds.bronze.column_names())
        process_into(ds, _batch({"b.pdf": second, "c.pdf": b"PK\x03\x04 not a pdf"}))
    finally:
        ds.close()

    sinks = read_sinks(stack_settings, new)
    bronze = sinks.bronze.with_columns(pl.col("_stream").str.extract(r"/(\w\.pdf)@").alias("f"))
    assert bronze.height == 3
    assert bronze.schema["pages"] == pl.Int64
    by_file = {r["f"]: r for r in bronze.iter_rows(named=True)}
    assert [by_file["a.pdf"][f] for f in FIELDS] == [None, None, None]  # written before
    assert [by_file["c.pdf"][f] for f in FIELDS] == [None, None, None]  # not a PDF: raw only
    b = by_file["b.pdf"]
    silver = sinks.silver.row(sinks.silver["sha256"].to_list().index(b["sha256"]), named=True)
    assert b["sha256"] == hashlib.sha256(second).hexdigest()
    assert (b["pages"], b["text"]) == (silver["pages"], silver["text"]) == (3, b["text"])
    assert "beta page 3" in b["text"].split("\f")[2]
    assert sinks.quarantine["_rule_ids"].to_list() == [["not_a_pdf"]]

    reprocess_from_bronze(stack_settings, new)
    again = read_sinks(stack_settings, new)
    assert again.bronze.height == 3  # bronze is the input, not rewritten
    assert sorted(again.silver["pages"].to_list()) == [2, 3]
    assert again.quarantine["_rule_ids"].to_list() == [["not_a_pdf"]]
