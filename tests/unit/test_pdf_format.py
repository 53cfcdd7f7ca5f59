"""The ``pdf`` payload format: text, pages, hash and metadata of good documents, and a
quarantine reason (never a crash, never unbounded memory) for hostile ones: encrypted,
truncated, a decompression bomb, too many pages, a non-PDF named .pdf (no services)."""

from __future__ import annotations

import hashlib
import io
import tracemalloc
import zlib
from datetime import UTC, datetime

import polars as pl
import pytest
from fpdf import FPDF

from lakesmith.contracts.loader import builtin_contracts
from lakesmith.core.records import RawBatch
from lakesmith.formats import PARSE_DETAIL, PARSE_ERROR, get_format
from lakesmith.formats.pdf import (
    PdfFormat,
    PdfLimits,
    PdfRejected,
    file_name,
    page_rows,
    parse_pdf,
    pdf_date,
    split_pages,
)
from lakesmith.quality.validate import validate

CONTRACT = builtin_contracts()["entities.documents"]


def good_pdf(pages: int = 3, password: str | None = None) -> bytes:
    pdf = FPDF()
    pdf.set_title("TH-200 climate logger datasheet")
    pdf.set_keywords("doc_type=datasheet; model=TH-200; date=2024-01-31T00:00:00Z")
    pdf.set_creation_date(datetime(2024, 1, 31, 9, 30, tzinfo=UTC))
    if password is not None:
        pdf.set_encryption(owner_password="owner", user_password=password)
    for i in range(pages):
        pdf.add_page()
        pdf.set_font("helvetica", size=11)
        pdf.multi_cell(0, 6, f"Page {i + 1}: the humidity sensor is calibrated every year.")
    return bytes(pdf.output())


def raw_pdf(content: bytes, pages: int = 1, filt: str = "/FlateDecode") -> bytes:
    """A minimal PDF whose every page shares one content stream (correct xref)."""
    kids = " ".join(f"{3 + i} 0 R" for i in range(pages))
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode(),
        *[
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {3 + pages} 0 R >>".encode()
            for _ in range(pages)
        ],
        f"<< /Length {len(content)} /Filter {filt} >>\nstream\n".encode()
        + content
        + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def rejected(data: bytes, limits: PdfLimits | None = None) -> PdfRejected:
    with pytest.raises(PdfRejected) as info:
        parse_pdf(data, limits or PdfLimits())
    return info.value


def test_text_pages_hash_and_metadata() -> None:
    data = good_pdf(3)
    doc = parse_pdf(data)
    assert doc.pages == 3
    assert doc.sha256 == hashlib.sha256(data).hexdigest()
    assert "Page 2: the humidity sensor" in doc.page_texts[1]
    assert split_pages(doc.text) == doc.page_texts
    assert doc.info["title"] == "TH-200 climate logger datasheet"
    assert doc.info["created"] == "2024-01-31T09:30:00+00:00"
    assert doc.keywords == {
        "doc_type": "datasheet",
        "model": "TH-200",
        "date": "2024-01-31T00:00:00Z",
    }
    assert doc.value("keywords.model") == "TH-200"
    assert doc.value("pages") == "3"


def test_encrypted_pdf_is_rejected() -> None:
    assert rejected(good_pdf(1, password="secret")).rule == "pdf_encrypted"


@pytest.mark.parametrize("cut", [0.3, 0.6, 0.95])
def test_truncated_pdf_is_rejected(cut: float) -> None:
    data = good_pdf(3)
    assert rejected(data[: int(len(data) * cut)]).rule == "pdf_unreadable"


@pytest.mark.parametrize(
    "data",
    [b"", b"hello, I am a text file", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, b"<html></html>"],
)
def test_not_a_pdf_is_rejected(data: bytes) -> None:
    assert rejected(data).rule == "not_a_pdf"


def test_corrupt_body_is_rejected() -> None:
    assert rejected(b"%PDF-1.4\n1 0 obj << /Type /Cat garbage\n%%EOF\n").rule == "pdf_unreadable"


def test_decompression_bomb_stops_at_the_stream_limit() -> None:
    bomb = raw_pdf(zlib.compress(b"0" * 200_000_000, 9))  # 200 MB from ~200 KB
    assert len(bomb) < 400_000
    tracemalloc.start()
    try:
        err = rejected(bomb, PdfLimits(max_stream_bytes=8 * 1024 * 1024))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert err.rule == "pdf_decompression_limit"
    assert peak < 64 * 1024 * 1024


def test_many_streams_stop_at_the_total_limit() -> None:
    content = zlib.compress(b"BT /F1 12 Tf (x) Tj ET\n" * 200_000)  # ~4.6 MB per page
    err = rejected(raw_pdf(content, pages=20), PdfLimits(max_total_bytes=20_000_000))
    assert err.rule == "pdf_decompression_limit"
    assert "page 5" in err.message


def test_too_many_pages() -> None:
    err = rejected(raw_pdf(zlib.compress(b"BT ET"), pages=30), PdfLimits(max_pages=10))
    assert err.rule == "pdf_too_many_pages"
    assert "30 pages" in err.message


def test_pdf_dates() -> None:
    assert pdf_date("D:20240131093000+01'00'") == "2024-01-31T09:30:00+01:00"
    assert pdf_date("D:2024") == "2024-01-01T00:00:00+00:00"
    assert pdf_date("D:20241399") is None
    assert pdf_date("yesterday") is None


def test_file_names_of_streams() -> None:
    assert (
        file_name("file:///in/pdf/datasheet_TH-200.pdf@1234-1700000000") == "datasheet_TH-200.pdf"
    )
    assert file_name("s3://bucket/docs/a.pdf") == "a.pdf"


def test_page_rows_one_row_per_page() -> None:
    frame = pl.DataFrame({"sha256": ["a", "b"], "text": ["one\ftwo\fthree", "only"]})
    pages = page_rows(frame)
    assert pages.select("sha256", "page", "text").rows() == [
        ("a", 1, "one"), ("a", 2, "two"), ("a", 3, "three"), ("b", 1, "only"),
    ]  # fmt: skip


def _batch(payloads: list[bytes | None]) -> RawBatch:
    batch = RawBatch(source="file:///in", uri_sep="#row=")
    for i, p in enumerate(payloads):
        batch.extend(
            f"file:///in/doc{i}.pdf@{len(p or b'')}-1", [0], [p], timestamps_ms=[1_735_689_600_000]
        )
    return batch


def test_decode_a_batch_good_and_hostile() -> None:
    good = good_pdf(2)
    payloads: list[bytes | None] = [good, b"not a pdf", good[:500], good_pdf(1, "pw"), None]
    frame = get_format("pdf").decode(_batch(payloads), CONTRACT)
    assert frame.height == 5
    assert frame[PARSE_ERROR].to_list() == [
        None, "not_a_pdf", "pdf_unreadable", "pdf_encrypted", "not_a_pdf",
    ]  # fmt: skip
    assert frame[PARSE_DETAIL][0] is None
    row = frame.row(0, named=True)
    assert row["sha256"] == hashlib.sha256(good).hexdigest()
    assert row["pages"] == "2" and row["bytes"] == str(len(good))
    assert row["file_name"] == "doc0.pdf"
    assert row["doc_type"] == "datasheet" and row["model"] == "TH-200"
    assert row["received_at"].startswith("2025-01-01T00:00:00")
    assert "\f" in row["text"]
    checked = validate(frame, CONTRACT, datetime(2025, 6, 1, tzinfo=UTC))
    assert checked.valid.height == 1
    assert checked.valid["pages"].dtype == pl.Int64 and checked.valid["pages"][0] == 2
    assert checked.invalid["_rule_ids"].to_list() == [
        ["not_a_pdf"], ["pdf_unreadable"], ["pdf_encrypted"], ["not_a_pdf"],
    ]  # fmt: skip


def test_decode_too_large_payload() -> None:
    fmt = PdfFormat()
    small = CONTRACT.model_copy(
        update={"payload": CONTRACT.payload.model_copy(update={"max_bytes": 1000})}
    )
    frame = fmt.decode(_batch([good_pdf(1)]), small)
    assert frame[PARSE_ERROR].to_list() == ["payload_too_large"]


def test_read_is_one_record_cut_at_max_bytes() -> None:
    data = good_pdf(1)
    chunks = list(PdfFormat().read(io.BytesIO(data), 1000, 1 << 20))
    assert [c.payloads for c in chunks] == [[data]]
    cut = list(PdfFormat().read(io.BytesIO(data), 1000, 100))
    assert len(cut[0].payloads[0] or b"") == 101


def test_parallel_decode_equals_serial() -> None:
    good = [good_pdf(1 + i % 3) for i in range(9)]
    bomb = raw_pdf(zlib.compress(b"0" * 50_000_000, 9))
    payloads: list[bytes | None] = [*good, b"nope", good[0][:300], bomb]
    small = PdfLimits(max_stream_bytes=4 * 1024 * 1024)
    serial = PdfFormat(small, workers=1).decode(_batch(payloads), CONTRACT)
    parallel = PdfFormat(small, workers=2).decode(_batch(payloads), CONTRACT)
    assert parallel.equals(serial)
    assert parallel[PARSE_ERROR].to_list()[-3:] == [
        "not_a_pdf", "pdf_unreadable", "pdf_decompression_limit",
    ]  # fmt: skip


def test_bronze_keeps_text_pages_hash_beside_the_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """``payload.bronze_fields``: each bronze row carries the decoded hash, page count and
    text (equal to silver's); hostile PDFs stay in bronze as bytes (fields null) and go to
    quarantine with their reason."""
    import lakesmith.formats.pdf as pdf_format
    from lakesmith.pipeline.process import process_batch
    from lakesmith.silver.dedupe import DedupeIndex

    monkeypatch.setattr(pdf_format, "DEFAULT_LIMITS", PdfLimits(max_stream_bytes=4 << 20))
    assert CONTRACT.payload.bronze_fields == ["sha256", "pages", "text"]
    good = good_pdf(3)
    bomb = raw_pdf(zlib.compress(b"0" * 50_000_000, 9))
    payloads: list[bytes | None] = [good, bomb, good_pdf(1, "pw"), b"PK\x03\x04 a zip"]
    now = datetime(2025, 6, 1, tzinfo=UTC)
    batch = process_batch(_batch(payloads), CONTRACT, now, DedupeIndex(CONTRACT.keys))
    bronze, silver = batch.bronze, batch.silver
    assert bronze.height == 4 and silver.height == 1
    assert bronze.columns[-4:] == ["sha256", "pages", "text", "_schema_version"]
    assert bronze.schema["pages"] == pl.Int64 and bronze.schema["text"] == pl.String
    row = bronze.row(0, named=True)
    assert row["_payload"] == good
    assert row["sha256"] == hashlib.sha256(good).hexdigest() == silver["sha256"][0]
    assert row["pages"] == 3 == silver["pages"][0]
    assert row["text"] == silver["text"][0] and row["text"].count("\f") == 2
    assert bronze.slice(1)["_payload"].to_list() == payloads[1:]  # hostile ones kept raw
    assert bronze.slice(1).select("sha256", "pages", "text").null_count().row(0) == (3, 3, 3)
    reasons = {
        file_name(s): ids for s, ids in batch.quarantine.select("_stream", "_rule_ids").rows()
    }
    assert reasons == {
        "doc1.pdf": ["pdf_decompression_limit"], "doc2.pdf": ["pdf_encrypted"],
        "doc3.pdf": ["not_a_pdf"],
    }  # fmt: skip


def test_bronze_fields_must_name_contract_fields() -> None:
    from pathlib import Path

    import yaml
    from pydantic import ValidationError

    import lakesmith.domains.entities as entities
    from lakesmith.contracts.model import Contract

    spec = yaml.safe_load((Path(entities.__file__).parent / "documents.yaml").read_text())
    Contract.model_validate(spec)
    spec["payload"]["bronze_fields"] = ["sha256", "nope"]
    with pytest.raises(ValidationError, match="'nope' is not a field of the contract"):
        Contract.model_validate(spec)
