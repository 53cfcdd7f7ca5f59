"""File uploads on the real stack: JSON and CSV through the ingest path, and hostile
input — oversized, lying extensions, path names, malformed files, a PDF bomb — each a
4xx with a clear message and nothing written outside the state dir's upload folder."""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lakesmith.api.app import create_app
from lakesmith.api.testing import api_settings, basic
from lakesmith.config import Settings

pytestmark = pytest.mark.integration
STORED = re.compile(r"^api/uploads/[a-z.]+/\d{8}T\d{12}Z-[0-9a-f]{8}\.(json|jsonl|csv|pdf)$")


@pytest.fixture(scope="module")
def api(stack_settings: Settings) -> Iterator[tuple[TestClient, Settings]]:
    settings = api_settings(stack_settings, max_upload_bytes=256 * 1024)
    with TestClient(create_app(settings)) as client:
        yield client, settings


def _up(
    client: TestClient, dataset: str, name: str, body: bytes, ctype: str = "text/plain"
) -> object:
    return client.post(
        f"/v1/raw/{dataset}/files", files={"file": (name, body, ctype)}, headers=basic("writer")
    )


def _pdf(content: bytes, *, compress: bool = True) -> bytes:
    """A one-page PDF whose content stream is ``content`` (Flate-compressed)."""
    data = zlib.compress(content, 9) if compress else content
    filt = b"/Filter /FlateDecode " if compress else b""
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        b"<< "
        + filt
        + b"/Length "
        + str(len(data)).encode()
        + b" >>\nstream\n"
        + data
        + b"\nendstream",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for i, o in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + o + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def test_json_and_csv_uploads_take_the_ingest_path(api: tuple[TestClient, Settings]) -> None:
    client, settings = api
    body = b'[{"sku": "a1", "qty": 3}, {"sku": "b2", "qty": 5}, {"sku": "c3", "qty": 7}]'
    r = _up(client, "up.items", "../../etc/passwd", body, "image/png")
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["format"] == "json" and out["records"] == 3 and out["valid"] == 3
    assert STORED.match(out["stored_as"]), out["stored_as"]
    assert (settings.state_dir / out["stored_as"]).is_file()
    listed = client.get("/v1/raw/up.items", headers=basic("reader")).json()["items"]
    assert sorted(x["data"]["sku"] for x in listed) == ["a1", "b2", "c3"]
    csv = _up(client, "up.rows", "rows.json", b"sku,qty\nx,1\ny,2\n")  # lying extension: CSV
    assert csv.status_code == 201, csv.text
    assert csv.json()["format"] == "csv" and csv.json()["records"] == 2
    clash = _up(client, "up.items", "more.csv", b"sku,qty\nz,1\n")
    assert clash.status_code == 409 and "json" in clash.json()["detail"]


@pytest.mark.parametrize(
    ("name", "body", "status", "message"),
    [
        ("big.json", b"[" + b'{"a": 1},' * 40_000 + b'{"a": 1}]', 413, "limit"),
        ("photo.csv", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, 415, "binary"),
        ("data.json", bytes(range(128, 256)) * 4, 415, "UTF-8"),
        ("data.json", b'[{"a": 1}, {"a": ', 400, "malformed JSON"),
        ("data.jsonl", b'{"a": 1}\n{"a": 2\n{"a": 3}\n', 400, "line 2"),
        ("deep.json", b"[" * 100_000 + b"]" * 100_000, 400, "malformed JSON"),
        (
            "deep.jsonl",
            b'{"a": 1}\n{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n",
            400,
            "line 2",
        ),
        ("empty.csv", b"", 422, "empty"),
        ("words.txt", b"just some words\nwithout separators\n", 415, "neither"),
        ("bomb.pdf", _pdf(b"0 0 m " * 8_000_000), 422, "pdf_"),
        ("doc.pdf", _pdf(b"BT /F1 12 Tf 72 700 Td (hello) Tj ET", compress=False), 409, "contract"),
    ],
)
def test_hostile_uploads_are_4xx_and_leave_nothing(
    api: tuple[TestClient, Settings], name: str, body: bytes, status: int, message: str
) -> None:
    client, settings = api
    folder = settings.state_dir / "api" / "uploads" / "up.hostile"
    before = set(folder.glob("*")) if folder.exists() else set()
    r = _up(client, "up.hostile", name, body)
    assert r.status_code == status, r.text
    assert message in r.json()["detail"], r.json()
    after = set(folder.glob("*")) if folder.exists() else set()
    assert after == before  # refused files are removed


def test_bad_dataset_names_and_roles(api: tuple[TestClient, Settings]) -> None:
    client, settings = api
    r = _up(client, "..", "x.json", b'[{"a": 1}]')
    assert r.status_code in (404, 422)
    assert _up(client, "a..b", "x.json", b'[{"a": 1}]').status_code == 422
    assert not (settings.state_dir / "api" / "a..b").exists()
    reader = client.post(
        "/v1/raw/up.items/files", files={"file": ("x.json", b"[]")}, headers=basic("reader")
    )
    assert reader.status_code == 403
    assert not Path("/etc/passwd.json").exists()


def test_a_pdf_takes_the_pdf_format_into_the_documents_dataset(
    api: tuple[TestClient, Settings],
) -> None:
    from fpdf import FPDF

    client, _ = api
    pdf = FPDF()
    pdf.set_keywords("type=datasheet; model=TH-200")
    for text in ("ThermoHygro 200 datasheet", "Operating range -40 to 85 C"):
        pdf.add_page()
        pdf.set_font("helvetica", size=12)
        pdf.cell(text=text)
    body = bytes(pdf.output())
    r = _up(client, "entities.documents", "C:\\fakepath\\..\\sheet.txt", body, "text/csv")
    assert r.status_code == 201, r.text
    assert r.json()["format"] == "pdf" and r.json()["records"] == 1 and r.json()["valid"] == 1
    items = client.get("/v1/raw/entities.documents?limit=1000", headers=basic("reader")).json()
    # the session's stack is shared: other tests (the API seed) fill this dataset too
    doc = [d for d in items["items"] if r.json()["stored_as"] in d["source"]]
    assert len(doc) == 1 and doc[0]["source"].startswith("file://")
