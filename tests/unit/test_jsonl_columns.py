"""JSON lines read as columns (``formats.jsonl_columns``): the same records, seqs and
chunks as the bytes path for any input (hostile ones included), several runs and streams
in one batch, and the batch decodes to the same rows as the same lines as bytes."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime

import numpy as np
import pytest

from lakesmith.bronze.envelope import envelope
from lakesmith.contracts.model import Contract
from lakesmith.core.records import RawBatch
from lakesmith.formats import decode_batch, get_format
from lakesmith.formats.base import RecordChunk
from lakesmith.formats.jsonl import FORMAT, split_blocks
from lakesmith.formats.jsonl_columns import line_runs, line_views

NOW = datetime(2025, 1, 2, tzinfo=UTC)


def _flat(chunks: list[RecordChunk]) -> list[tuple[int, bytes | None]]:
    out: list[tuple[int, bytes | None]] = []
    for c in chunks:
        lines = c.columns.payloads.to_list() if c.columns is not None else c.payloads
        out += [(c.first_seq + i, p) for i, p in enumerate(lines)]
    return out


def test_line_views_point_into_the_buffer_for_short_and_long_lines() -> None:
    buf = b"a\n\nabcdefghijkl\nabcdefghijklm\n" + b"x" * 5000
    arr = np.frombuffer(buf, dtype=np.uint8)
    newlines = np.flatnonzero(arr == 10)
    starts = np.concatenate([[0], newlines + 1])
    ends = np.concatenate([newlines, [len(buf)]])
    series = line_views(buf, starts, ends - starts)
    assert series.to_list() == buf.split(b"\n")


def test_unclean_blocks_are_declined() -> None:
    assert line_runs(b'{"a":1}\n  \n{"b":2}', 100) is None  # a whitespace line
    assert line_runs(b'{"a":1}\n' + b"x" * 101, 100) is None  # an oversized line
    assert line_runs(b'{"a":1}\n\n' * 65, 100) is None  # a frame per run: too many runs
    assert line_runs(b'{"a":1}\n\n' * 10, 100) is not None
    taken = line_runs(b'{"a":1}\r\n\n{"b":2}', 100)
    assert taken is not None
    runs, lines = taken
    assert lines == 3
    assert [(first, s.to_list()) for first, s in runs] == [(0, [b'{"a":1}']), (2, [b'{"b":2}'])]


@pytest.mark.parametrize("block_bytes", [3, 7, 64, 1 << 20])
def test_same_records_as_the_bytes_path_for_random_input(
    block_bytes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blank and whitespace lines, CRLF, a BOM, oversized lines, no final newline, and
    lines cut across blocks of any size."""
    assert split_blocks.__kwdefaults__ is not None
    monkeypatch.setitem(split_blocks.__kwdefaults__, "block_bytes", block_bytes)
    rng = random.Random(block_bytes)
    pieces = [b"a", b"\n", b"\r", b" ", b"{", b"}", b"x" * 13, b"\t", b"\xef\xbb\xbf", b"y" * 51]
    pieces += [b"\n\n", b'{"k":"v"}\n', b"\r\n"]
    for _ in range(600):
        data = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 40)))
        by_bytes = list(FORMAT.read(io.BytesIO(data), 2, 50))
        by_columns = list(FORMAT.read_columns(io.BytesIO(data), 2, 50))
        assert _flat(by_columns) == _flat(by_bytes), data
        assert all(0 < len(c) <= 2 for c in by_columns)


def _contract() -> Contract:
    return Contract.model_validate(
        {
            "name": "t.lines",
            "source": {"kind": "file", "path": "/nowhere/*.jsonl"},
            "payload": {"format": "jsonl", "max_bytes": 64},
            "event_time": "at",
            "fields": [
                {"name": "at", "type": "timestamp", "path": "@source_ts"},
                {"name": "id", "type": "long", "required": True},
                {"name": "name", "type": "string"},
            ],
            "keys": [],
        }
    )


def test_runs_of_several_streams_decode_like_bytes() -> None:
    """Two objects, a blank line splitting one of them into two runs, a bad line, no
    final newline: one batch of columns, decoded and enveloped like the bytes."""
    c = _contract()
    files = {
        "s3://b/one@e1": b'{"id":1,"name":"a"}\n\n{"id":2}\n{"id":\n',
        "s3://b/two@e2": b'{"id":3,"name":"' + b"z" * 40 + b'"}\n{"id":4}',
    }
    columns = RawBatch(source="s3://b", uri_sep="#line=")
    as_bytes = RawBatch(source="s3://b", uri_sep="#line=")
    for stream, data in files.items():
        for chunk in get_format("jsonl").read_columns(io.BytesIO(data), 100, 64):  # type: ignore[attr-defined]
            assert chunk.columns is not None, "clean lines are read as columns"
            n = len(chunk)
            seqs = list(range(chunk.first_seq, chunk.first_seq + n))
            columns.add_records(
                stream, chunk.first_seq, chunk.columns.frame, chunk.columns.payloads,
                timestamp_ms=5, records_format="jsonl",
            )  # fmt: skip
            as_bytes.extend(stream, seqs, chunk.columns.payloads.to_list(), None, [5] * n)
    assert columns.first_seq is None  # several runs
    assert columns.seq_column().to_list() == as_bytes.seqs == [0, 2, 3, 0, 1]
    decoded, expected = decode_batch(columns, c), decode_batch(as_bytes, c)
    assert decoded.equals(expected)
    assert decoded["_parse_error"].to_list() == [None, None, "invalid_json", None, None]
    assert envelope(columns, "b1", NOW).equals(envelope(as_bytes, "b1", NOW))
    assert columns.next_positions() == as_bytes.next_positions()


def test_a_long_line_sends_its_block_the_bytes_way() -> None:
    """A line over max_bytes is delivered truncated by the bytes path (then quarantined
    ``payload_too_large``), whichever path its neighbours took."""
    data = b'{"id":1}\n' + b'{"id":2,"pad":"' + b"p" * 100 + b'"}\n{"id":3}\n'
    chunks = list(FORMAT.read_columns(io.BytesIO(data), 100, 64))
    assert all(c.columns is None for c in chunks)
    flat = _flat(chunks)
    assert [s for s, _ in flat] == [0, 1, 2]
    assert len(flat[1][1] or b"") == 65
