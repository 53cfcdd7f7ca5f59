"""The columnar fast path of the ``csv`` format (``formats.csv_blocks``): clean blocks read
as columns give exactly the records, seqs, payloads and field texts of the precise
record-by-record path, dirty blocks fall back to it, and the ``file`` source delivers and
resumes them like any other records (no services)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from lakesmith.config import Settings
from lakesmith.contracts.model import Contract
from lakesmith.core.positions import Position, Positions
from lakesmith.core.records import RawBatch
from lakesmith.formats import PARSE_ERROR, get_format
from lakesmith.formats.base import PARSE_DETAIL, RecordChunk
from lakesmith.formats.csv_blocks import read_columns
from lakesmith.formats.records import decode_records
from lakesmith.sources.base import SourceContext
from lakesmith.sources.file import FileSource
from lakesmith.sources.registry import open_source

FIELDS: list[dict[str, Any]] = [
    {"name": "id", "type": "long"},
    {"name": "name", "type": "string"},
    {"name": "amount", "type": "double"},
    {"name": "row", "type": "long", "path": "@row"},
    {"name": "seen", "type": "timestamp", "path": "@source_ts"},
]
STREAM = "file:///x.csv@1-2"
CLEAN = [f"{i},n{i},{i}.5" for i in range(40)]

CASES = {
    "clean": "id,name,amount\n" + "\n".join(CLEAN) + "\n",
    "no_final_newline": "id,name,amount\n" + "\n".join(CLEAN),
    "crlf_bom": "\ufeffid,name,amount\r\n" + "\r\n".join(CLEAN) + "\r\n",
    "quoted": "id,name,amount\n"
    + "\n".join(f'{i},"n, {i}","  {i}"' if i % 3 else f"{i},n{i},{i}" for i in range(40))
    + "\n",
    "newline_in_quotes": "id,name,amount\n"
    + "\n".join(CLEAN[:15])
    + '\n15,"two\nlines",1\n'
    + "\n".join(CLEAN[16:])
    + "\n",
    "ragged_and_blank": "id,name,amount\n"
    + "\n".join(CLEAN[:10])
    + "\n10,short\n11,n,1,extra\n\n"
    + "\n".join(CLEAN[12:])
    + "\n",
    "bad_quote_nul_utf8": "id,name,amount\n"
    + "\n".join(CLEAN[:20])
    + '\n20,"open,1\n21,n\x00ul,2\n'
    + "\n".join(CLEAN[22:])
    + "\n",
    "semicolon_decimal_comma": "id;name;amount\n"
    + "\n".join(f"{i};n{i};{i},25" for i in range(40))
    + "\n",
    "header_case_spaces": " ID , Name,AMOUNT\n" + "\n".join(CLEAN) + "\n",
    "comment_preamble": "# exported by a logger\n# site: A7, v2\n\nid,name,amount\n"
    + "\n".join(CLEAN)
    + "\n",
    "cr_inside_row": "id,name,amount\n"
    + "\n".join(CLEAN[:5])
    + "\n5,a\rb,1\n"
    + "\n".join(CLEAN[6:]),
}


def contract(
    path: str = "/x.csv", chunk_records: int = 7, extra: list[dict[str, Any]] | None = None
) -> Contract:
    return Contract.model_validate(
        {
            "name": "files.blocks",
            "source": {"kind": "file", "path": path, "chunk_records": chunk_records},
            "payload": {"format": "csv", "max_bytes": 200},
            "fields": [*FIELDS, *(extra or [])],
            "keys": [],
            "event_time": "seen",
        }
    )


def _batch(chunk: RecordChunk) -> RawBatch:
    batch = RawBatch(source="file:///x.csv", uri_sep="#row=")
    if chunk.columns is not None:
        c = chunk.columns
        batch.add_records(
            STREAM, chunk.first_seq, c.frame, c.payloads, timestamp_ms=1000, records_format=c.format
        )
    else:
        n = len(chunk)
        seqs = list(range(chunk.first_seq, chunk.first_seq + n))
        batch.extend(STREAM, seqs, chunk.payloads, timestamps_ms=[1000] * n)
    assert chunk.context is not None
    batch.context[STREAM] = chunk.context
    return batch


def _decoded(chunks: list[RecordChunk], c: Contract) -> pl.DataFrame:
    """seq, payload and decoded fields of every record, in order."""
    frames = []
    for chunk in chunks:
        batch = _batch(chunk)
        payloads = (
            batch.record_payloads
            if batch.record_payloads is not None
            else pl.Series(batch.payloads, dtype=pl.Binary)
        )
        decoded = (
            decode_records(batch, c)
            if batch.records is not None
            else get_format("csv").decode(batch, c)
        )
        frames.append(decoded.with_columns(batch.seq_column(), payloads.alias("payload")))
    return pl.concat(frames)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("block", [16, 97, 300, 1 << 20])
def test_columns_match_the_precise_path(case: str, block: int) -> None:
    data = CASES[case].encode()
    if case == "bad_quote_nul_utf8":
        data = data.replace(b"n\x00ul", b"n\x00ul").replace(b"n30,", b"n\xff30,")
    c = contract()
    precise = list(get_format("csv").read(io.BytesIO(data), 7, 200))
    fast = list(read_columns(io.BytesIO(data), 7, 200, block))
    expected, got = _decoded(precise, c), _decoded(fast, c)
    assert got.equals(expected), (case, block)
    assert all(len(ch) <= 7 for ch in fast)
    if block == 97 and case in ("clean", "crlf_bom", "quoted", "semicolon_decimal_comma"):
        assert any(ch.columns is not None for ch in fast)  # the fast path was taken


def test_dirty_rows_still_quarantined_with_their_row() -> None:
    data = CASES["ragged_and_blank"].encode()
    got = _decoded(list(read_columns(io.BytesIO(data), 100, 200, 64)), contract())
    bad = got.filter(pl.col(PARSE_ERROR).is_not_null())
    assert bad["seq"].to_list() == [10, 11]
    assert bad[PARSE_DETAIL].to_list() == [
        "expected 3 fields, found 2",
        "expected 3 fields, found 4",
    ]
    assert got.height == 40  # 41 rows, one of them blank (its seq is used, not delivered)
    assert got["seq"][-1] == 40


def test_columns_when_the_contract_reads_past_the_header() -> None:
    """A contract reading ``column_4`` (rows wider than the header) fails rows of the
    header's width, on either path, with an ``invalid_csv`` error."""
    c = contract(extra=[{"name": "column_4", "type": "string"}])
    data = CASES["clean"].encode()
    got = _decoded(list(read_columns(io.BytesIO(data), 100, 200, 97)), c)
    assert got[PARSE_ERROR].drop_nulls().len() == got.height == 40
    assert got.equals(_decoded(list(get_format("csv").read(io.BytesIO(data), 100, 200)), c))


def _source(path: Path, positions: Positions | None = None) -> FileSource:
    found = positions or {}
    ctx = SourceContext(
        settings=Settings(state_dir=Path("/nonexistent")),
        contract=contract(str(path), chunk_records=5),
        group_id="test",
        resume=lambda streams: {s: p for s, p in found.items() if s in streams},
    )
    src = open_source(ctx)
    assert isinstance(src, FileSource)
    return src


def _poll_all(src: FileSource, size: int) -> list[tuple[int, bytes | None]]:
    out: list[tuple[int, bytes | None]] = []
    while not src.drained():
        batch = src.poll(size, 5.0)
        payloads: list[bytes | None] = (
            batch.record_payloads.to_list() if batch.record_payloads is not None else batch.payloads
        )
        assert batch.records is None or batch.timestamp_column()[0] is not None  # the file's mtime
        out += list(zip(batch.seq_column().to_list(), payloads, strict=True))
    return out


@pytest.mark.parametrize("size", [3, 8, 1000])
def test_file_source_mixes_columns_and_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    monkeypatch.setattr("lakesmith.formats.csv.BLOCK_BYTES", 90)
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_bytes(CASES["ragged_and_blank"].encode())
    b.write_bytes(CASES["clean"].encode())
    rows = _poll_all(_source(tmp_path / "*.csv"), size)
    expected = [
        (s, r) for s, r in enumerate(CASES["ragged_and_blank"].encode().split(b"\n")[1:-1]) if r
    ]
    expected += list(enumerate(r.encode() for r in CLEAN))
    assert rows == expected
    assert len(rows) == 80


def test_file_source_resumes_inside_a_columns_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("lakesmith.formats.csv.BLOCK_BYTES", 90)
    path = tmp_path / "c.csv"
    path.write_bytes(CASES["clean"].encode())
    stream = _source(path).files[0].stream
    rows = _poll_all(_source(path, {stream: Position(23)}), 4)
    assert rows == [(i, CLEAN[i].encode()) for i in range(23, 40)]


def _header_and_rows(data: bytes, block: int) -> tuple[set[bytes | None], list[tuple[int, bytes]]]:
    """The header context and ``(seq, line)`` of every data row, by both readers (the
    precise one splits at its own block size)."""
    out = []
    for chunks in (
        list(get_format("csv").read(io.BytesIO(data), 3, 200)),
        list(read_columns(io.BytesIO(data), 3, 200, block)),
    ):
        headers = {ch.context for ch in chunks}
        rows = []
        for ch in chunks:
            lines = ch.columns.payloads.to_list() if ch.columns is not None else ch.payloads
            rows += [(ch.first_seq + i, line) for i, line in enumerate(lines)]
        out.append((headers, rows))
    assert out[0] == out[1]
    return out[0]


@pytest.mark.parametrize("block", [16, 97, 1 << 20])
def test_a_comment_preamble_is_not_the_header_nor_rows(block: int) -> None:
    data = b"# exported by a logger\n# site: A7, v2\n\nid,v\n1,2\n3,4\n"
    assert _header_and_rows(data, block) == ({b"id,v"}, [(0, b"1,2"), (1, b"3,4")])
    # a header that starts with "#" has as many fields as the rows: it stays the header,
    # also when a tiny block holds it alone
    data = b"#id,name\n1,x\n2,y\n"
    assert _header_and_rows(data, block) == ({b"#id,name"}, [(0, b"1,x"), (1, b"2,y")])
    # "#" lines only: held up to PREAMBLE_RECORDS, then the first is the header and every
    # other line a row (nothing dropped), as without the preamble rule
    headers, rows = _header_and_rows(b"# a\n# b\n" * 12_000, block)
    assert headers == {b"# a"} and len(rows) == 23_999 and rows[0] == (0, b"# b")
