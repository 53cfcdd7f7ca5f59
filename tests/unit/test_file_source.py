"""The ``file`` source: discovery, streams named by content, polling across files in small
batches, resuming from sink positions, and unreadable input (no services)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakesmith.config import Settings
from lakesmith.contracts.model import Contract
from lakesmith.core.errors import InputError
from lakesmith.core.positions import Position, Positions
from lakesmith.core.records import RawBatch
from lakesmith.formats import PARSE_ERROR, decode_batch
from lakesmith.sources.base import Source, SourceContext
from lakesmith.sources.file import FileSource, FileSourceSpec, discover
from lakesmith.sources.registry import open_source

FIELDS: list[dict[str, Any]] = [
    {"name": "device_id", "type": "string", "required": True},
    {"name": "timestamp", "type": "timestamp", "required": True, "format": "iso8601"},
    {"name": "temperature", "type": "double"},
]


def contract(fmt: str, path: Path | str, chunk_records: int = 4) -> Contract:
    return Contract.model_validate(
        {
            "name": "iot.telemetry",
            "source": {"kind": "file", "path": str(path), "chunk_records": chunk_records},
            "payload": {"format": fmt, "max_bytes": 1024},
            "fields": FIELDS,
            "keys": ["device_id", "timestamp"],
            "event_time": "timestamp",
        }
    )


class Resume:
    """``context.resume``: answers from ``positions`` and records what it was asked."""

    def __init__(self, positions: Positions | None = None) -> None:
        self.positions = positions or {}
        self.asked: list[list[str]] = []

    def __call__(self, streams: Sequence[str]) -> Positions:
        self.asked.append(list(streams))
        return {s: p for s, p in self.positions.items() if s in streams}


def source(c: Contract, resume: Resume | None = None, tmp: Path | None = None) -> FileSource:
    ctx = SourceContext(
        settings=Settings(state_dir=tmp or Path("/nonexistent")),
        contract=c,
        group_id="test",
        resume=resume or Resume(),
    )
    src = open_source(ctx)
    assert isinstance(src, FileSource)
    return src


def ts(i: int) -> str:
    return f"2025-01-20T10:00:{i:02d}Z"


def write_files(folder: Path) -> None:
    folder.mkdir(exist_ok=True)
    lines = [
        orjson.dumps({"device_id": f"j{i}", "timestamp": ts(i), "temperature": i}) for i in range(7)
    ]
    lines.insert(3, b"")  # a blank line: seq 3 is skipped
    (folder / "a.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    rows = "".join(f"c{i},{ts(i)},{i}.5\n" for i in range(6))
    (folder / "b.csv").write_text("device_id,timestamp,temperature\n" + rows)
    (folder / "b2.csv").write_text("temperature,device_id,timestamp\n1,d0," + ts(0) + "\n")
    table = pa.table(
        {
            "device_id": [f"p{i}" for i in range(9)],
            "timestamp": pa.array(
                [datetime(2025, 1, 20, 10, 0, i, tzinfo=UTC) for i in range(9)],
                pa.timestamp("us", tz="UTC"),
            ),
            "temperature": [float(i) for i in range(9)],
        }
    )
    pq.write_table(table, folder / "c.parquet", row_group_size=4)
    (folder / ".hidden.csv").write_text("junk\n")


def drain(src: Source, max_records: int = 3) -> list[RawBatch]:
    batches = []
    while True:
        batch = src.poll(max_records, 0.5)
        if not len(batch):
            break
        assert len(batch) <= max_records
        batches.append(batch)
    assert src.drained()
    return batches


def payloads(batch: RawBatch) -> list[bytes | None]:
    """The batch's records as bytes, whether read as bytes or as columns (clean blocks)."""
    if batch.record_payloads is not None:
        return list(batch.record_payloads.to_list())
    return batch.payloads


def records(batches: list[RawBatch]) -> list[tuple[str, int, bytes | None]]:
    return [
        (b.streams[sid], seq, p)
        for b in batches
        for sid, seq, p in zip(
            b.stream_id_column().to_list(), b.seq_column().to_list(), payloads(b), strict=True
        )
    ]


def stream_of(path: Path) -> str:
    st = path.stat()
    return f"file://{path.absolute()}@{st.st_size}-{st.st_mtime_ns}"


def test_spec_and_discovery(tmp_path: Path) -> None:
    write_files(tmp_path / "drop")
    c = contract("csv", tmp_path / "drop" / "*.csv")
    assert isinstance(c.source, FileSourceSpec)
    assert c.source.uri == f"file://{tmp_path}/drop/*.csv"
    assert c.source.chunk_records == 4
    names = [f.path.name for f in discover(str(tmp_path / "drop" / "*.csv"))]
    assert names == ["b.csv", "b2.csv"]  # sorted, hidden files skipped
    names = [f.path.name for f in discover(str(tmp_path / "drop"))]
    assert names == ["a.jsonl", "b.csv", "b2.csv", "c.parquet"]
    assert [f.path.name for f in discover(str(tmp_path / "**" / "*.parquet"))] == ["c.parquet"]
    assert discover(str(tmp_path / "drop" / "*.xml")) == []
    with pytest.raises(InputError, match="no such file"):
        discover(str(tmp_path / "missing.csv"))
    with pytest.raises(Exception, match="chunk_records"):
        contract("csv", tmp_path, chunk_records=0)


@pytest.mark.parametrize(
    ("fmt", "pattern", "expected"),
    [
        ("jsonl", "*.jsonl", {"a.jsonl": [0, 1, 2, 4, 5, 6, 7]}),
        ("csv", "b*.csv", {"b.csv": list(range(6)), "b2.csv": [0]}),
        ("parquet", "c.parquet", {"c.parquet": list(range(9))}),
    ],
)
def test_poll_everything_in_small_batches(
    tmp_path: Path, fmt: str, pattern: str, expected: dict[str, list[int]]
) -> None:
    folder = tmp_path / "drop"
    write_files(folder)
    resume = Resume()
    src = source(contract(fmt, folder / pattern), resume)
    streams = {name: stream_of(folder / name) for name in expected}
    assert resume.asked == [list(streams.values())]  # asked once, for every file
    assert not src.drained()
    batches = drain(src, max_records=3)
    for b in batches:
        assert b.source == f"file://{folder / pattern}"
        assert b.uri_sep == "#row="
        assert b.runs or set(b.keys) == {None}
        assert all(isinstance(t, int) for t in b.timestamp_column().to_list())
    got = records(batches)
    assert [(s, q) for s, q, _ in got] == [
        (streams[name], seq) for name, seqs in expected.items() for seq in seqs
    ]
    mtime_ms = {streams[n]: (folder / n).stat().st_mtime_ns // 1_000_000 for n in expected}
    assert [t for b in batches for t in b.timestamp_column().to_list()] == [
        mtime_ms[s] for s, _, _ in got
    ]
    # Positions per stream after each batch, and the decoded records.
    assert batches[-1].next_positions()[streams[list(expected)[-1]]].next == (
        list(expected.values())[-1][-1] + 1
    )
    frames = [decode_batch(b, contract(fmt, folder / pattern)) for b in batches]
    frame = pl.concat(frames)
    assert frame.height == len(got)
    assert frame[PARSE_ERROR].null_count() == len(got)
    assert frame["device_id"].null_count() == 0
    if fmt == "csv":
        assert all(b.context for b in batches)
        assert frame["device_id"].to_list() == [f"c{i}" for i in range(6)] + ["d0"]
        assert frame["temperature"].to_list()[-1] == "1"
    src.close()


def test_resume_delivers_exactly_the_remaining_records(tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    write_files(folder)
    for fmt, name, start, total in [
        ("jsonl", "a.jsonl", 4, 8),  # lines 4..7 (the blank line 3 is behind)
        ("csv", "b.csv", 5, 6),
        ("parquet", "c.parquet", 5, 9),  # mid row group
        ("parquet", "c.parquet", 8, 9),
        ("csv", "b.csv", 6, 6),  # done
    ]:
        first = records(drain(source(contract(fmt, folder / name))))
        stream = stream_of(folder / name)
        src = source(contract(fmt, folder / name), Resume({stream: Position(start)}))
        rest = records(drain(src, max_records=2))
        assert [q for _, q, _ in rest] == list(range(start, total))
        assert rest == [r for r in first if r[1] >= start]


def test_resume_positions_of_other_files_do_not_matter(tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    write_files(folder)
    stale = f"file://{(folder / 'b.csv').absolute()}@1-1"  # an older version of b.csv
    src = source(contract("csv", folder / "b.csv"), Resume({stale: Position(4)}))
    assert [q for _, q, _ in records(drain(src))] == list(range(6))


def test_a_modified_file_is_a_new_stream(tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    write_files(folder)
    path = folder / "b.csv"
    c = contract("csv", path)
    before = {s for s, _, _ in records(drain(source(c)))}
    again = {s for s, _, _ in records(drain(source(c)))}
    assert before == again == {stream_of(path)}  # deterministic across restarts
    with path.open("a") as fh:
        fh.write(f"c6,{ts(6)},6.5\n")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000_000))
    after = records(drain(source(c, Resume({next(iter(before)): Position(6)}))))
    assert {s for s, _, _ in after} == {stream_of(path)} != before
    assert [q for _, q, _ in after] == list(range(7))  # the new content is read whole


def test_file_changed_between_discovery_and_reading(tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    write_files(folder)
    path = folder / "b.csv"
    resume = Resume()
    src = source(contract("csv", path), resume)
    old = stream_of(path)
    path.write_text("device_id,timestamp,temperature\nz," + ts(1) + ",1\n")
    os.utime(path, ns=(0, 123_000_000_000))
    got = records(drain(src))
    assert [(s, q) for s, q, _ in got] == [(stream_of(path), 0)]
    assert resume.asked == [[old], [stream_of(path)]]


def test_drained_and_close(tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    write_files(folder)
    src = source(contract("parquet", folder / "c.parquet", chunk_records=100))
    batch = src.poll(9, 1.0)  # everything, exactly
    assert len(batch) == 9
    assert src.drained()  # known without another poll
    assert len(src.poll(10, 0.1)) == 0
    assert src.lag() == {}
    src.committed(batch.next_positions())
    src.close()
    empty = source(contract("csv", folder / "*.nothing"))
    assert empty.drained() and len(empty.poll(10, 0.1)) == 0


def test_unreadable_files_raise_input_error_with_the_path(tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    write_files(folder)
    bad = folder / "d.parquet"
    bad.write_bytes((folder / "c.parquet").read_bytes()[:100])  # truncated
    src = source(contract("parquet", folder / "*.parquet"))
    with pytest.raises(InputError, match=r"d\.parquet.*Parquet"):
        drain(src, max_records=100)
    with pytest.raises(InputError, match=r"d\.parquet"):
        src.poll(10, 0.1)  # still failing, never skipping the file silently
    assert not src.drained()
    # A file that vanished after discovery.
    src = source(contract("csv", folder / "b.csv"))
    (folder / "b.csv").unlink()
    with pytest.raises(InputError, match=r"b\.csv"):
        src.poll(10, 0.1)
    # A CSV whose header is larger than max_bytes.
    (folder / "wide.csv").write_text("h" * 2000 + "\n1\n")
    with pytest.raises(InputError, match=r"wide\.csv.*header"):
        source(contract("csv", folder / "wide.csv")).poll(10, 0.1)
    with pytest.raises(InputError, match="no such file"):
        source(contract("csv", folder / "missing.csv"))


def test_hostile_files_become_quarantinable_records(tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "x.jsonl").write_bytes(
        b'{"device_id": "ok", "timestamp": "2025-01-20T10:00:00Z"}\n'
        + b"\xff\xfe\x00garbage\n"
        + b'{"device_id": "'
        + b"x" * 100_000
        + b'"}\n'
        + b'{"device_id": "ok2", "timestamp": "2025-01-20T10:00:00Z"}'
    )
    c = contract("jsonl", folder / "x.jsonl")
    batches = drain(source(c))
    frame = pl.concat([decode_batch(b, c) for b in batches])
    assert frame[PARSE_ERROR].to_list() == [None, "invalid_json", "payload_too_large", None]
    assert [q for _, q, _ in records(batches)] == [0, 1, 2, 3]
    assert len(records(batches)[2][2] or b"") == 1025


def test_bytes_read_is_the_progress_of_the_files(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    rows = "".join(f"c{i},{ts(i % 60)},{i}.5\n" for i in range(3000))
    path.write_text("device_id,timestamp,temperature\n" + rows)
    src = source(contract("csv", path, chunk_records=1000))
    assert (src.bytes_read, src.total_bytes) == (0, path.stat().st_size)
    seen = []
    while len(src.poll(1000, 1.0)):
        seen.append(src.bytes_read)
    assert seen == sorted(seen) and 0 < seen[0] <= src.total_bytes
    assert src.drained() and src.bytes_read == src.total_bytes
