"""``.gz`` files in the file source (streamed decompression; seqs count decompressed
records; a truncated or corrupt file is a clear error) and ``.json`` files holding one
array, split in bounded memory (no services)."""

from __future__ import annotations

import gzip
import io
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lakesmith.config import Settings
from lakesmith.contracts.model import Contract
from lakesmith.core.errors import InputError
from lakesmith.core.positions import Position, Positions
from lakesmith.core.records import RawBatch
from lakesmith.formats import PARSE_DETAIL, PARSE_ERROR, get_format, guess_format
from lakesmith.formats.json_array import split_array
from lakesmith.sources.base import SourceContext
from lakesmith.sources.file import FileSource
from lakesmith.sources.registry import open_source


def contract(fmt: str, path: Path, chunk_records: int = 4) -> Contract:
    return Contract.model_validate(
        {
            "name": "iot.telemetry",
            "source": {"kind": "file", "path": str(path), "chunk_records": chunk_records},
            "payload": {"format": fmt, "max_bytes": 1024},
            "fields": [
                {"name": "device_id", "type": "string", "required": True},
                {"name": "timestamp", "type": "timestamp", "required": True},
                {"name": "temperature", "type": "double"},
            ],
            "keys": [],
            "event_time": "timestamp",
        }
    )


def source(c: Contract, positions: Positions | None = None) -> FileSource:
    def resume(streams: Any) -> Positions:
        return {s: p for s, p in (positions or {}).items() if s in streams}

    ctx = SourceContext(Settings(state_dir=Path("/nonexistent")), c, "test", resume)
    src = open_source(ctx)
    assert isinstance(src, FileSource)
    return src


CSV = b"device_id,timestamp,temperature\n" + b"".join(
    b"d%d,2025-01-01T00:00:%02dZ,%d.5\n" % (i, i % 60, i) for i in range(50)
)


def _drain(src: FileSource, n: int = 7) -> RawBatch:
    out = RawBatch(source="t", uri_sep="#row=")
    while not src.drained():
        raw = src.poll(n, 1.0)
        for sid, stream in raw.streams.items():
            seqs = [q for s, q in zip(raw.stream_ids, raw.seqs, strict=True) if s == sid]
            pays = [p for s, p in zip(raw.stream_ids, raw.payloads, strict=True) if s == sid]
            out.extend(stream, seqs, pays)
            out.context.update(raw.context)
    return out


# -- gzip ----------------------------------------------------------------------------------


def test_gzip_csv_reads_like_the_plain_file(tmp_path: Path) -> None:
    plain, packed = tmp_path / "t.csv", tmp_path / "t.csv.gz"
    plain.write_bytes(CSV)
    packed.write_bytes(gzip.compress(CSV))
    assert guess_format(packed) == "csv"
    a, b = _drain(source(contract("csv", plain))), _drain(source(contract("csv", packed)))
    assert b.payloads == a.payloads and b.seqs == a.seqs == list(range(50))
    (stream,) = b.streams.values()
    assert stream.startswith(f"file://{packed}@{packed.stat().st_size}-")  # compressed identity
    src = source(contract("csv", packed))
    _drain(src)
    assert src.bytes_read == src.total_bytes == packed.stat().st_size


def test_gzip_resume_counts_decompressed_records(tmp_path: Path) -> None:
    packed = tmp_path / "t.csv.gz"
    packed.write_bytes(gzip.compress(CSV))
    stream = source(contract("csv", packed)).files[0].stream
    got = _drain(source(contract("csv", packed), {stream: Position(45)}))
    assert got.seqs == [45, 46, 47, 48, 49]
    assert got.payloads[0] == b"d45,2025-01-01T00:00:45Z,45.5"


def test_json_array_in_gzip_is_guessed(tmp_path: Path) -> None:
    path = tmp_path / "a.json.gz"
    path.write_bytes(gzip.compress(b'  [{"device_id": "x"}]'))
    assert guess_format(path) == "json"
    path.write_bytes(gzip.compress(b'{"device_id": "x"}\n'))
    assert guess_format(path) == "jsonl"


@pytest.mark.parametrize("damage", ["truncated", "corrupt", "not_gzip"])
def test_damaged_gzip_is_a_clear_error(tmp_path: Path, damage: str) -> None:
    big = CSV + b"".join(b"e%d,2025-01-01T00:00:00Z,%d\n" % (i, i) for i in range(20_000))
    data = bytearray(gzip.compress(big))
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "corrupt":
        for i in range(len(data) // 2, len(data) // 2 + 64):
            data[i] ^= 0x5A
    else:
        data = bytearray(b"plain text, not gzip\n" * 10)
    path = tmp_path / "t.csv.gz"
    path.write_bytes(bytes(data))
    src = source(contract("csv", path, chunk_records=500))
    with pytest.raises(InputError, match="not a complete gzip file") as err:
        _drain(src, n=500)
    assert str(path) in err.value.message
    with pytest.raises(InputError):  # and it stays failed: no half-read file goes on
        src.poll(10, 0.1)


def test_gzip_parquet_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet.gz"
    path.write_bytes(gzip.compress(b"PAR1"))
    with pytest.raises(InputError, match="gzip-compressed Parquet"):
        source(contract("parquet", path)).poll(10, 0.1)


# -- JSON arrays ---------------------------------------------------------------------------


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    r = rng.random()
    if depth > 3 or r < 0.3:
        return rng.choice([1, -2.5, 'a"b,]}', "\\", None, True, "x" * rng.randint(0, 5), "é€"])
    if r < 0.6:
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {f'k{i}"\\': _random_value(rng, depth + 1) for i in range(rng.randint(0, 3))}


@pytest.mark.parametrize("block", [1, 2, 3, 7, 64, 4096])
def test_array_elements_survive_any_block_boundary(block: int) -> None:
    rng = random.Random(block)
    items = [_random_value(rng) for _ in range(300)]
    data = json.dumps(items, ensure_ascii=False).encode()
    got = [e for _, els in split_array(io.BytesIO(data), 1 << 20, block) for e in els]
    assert [json.loads(g) for g in got] == items


def _elements(data: bytes, max_bytes: int = 1024, chunk: int = 3) -> list[tuple[int, Any]]:
    out: list[tuple[int, Any]] = []
    for c in get_format("json").read(io.BytesIO(data), chunk, max_bytes):
        out += [(c.first_seq + i, p) for i, p in enumerate(c.payloads)]
    return out


def test_array_quirks() -> None:
    assert _elements(b'\xef\xbb\xbf \n [ {"a": 1} ,\n 2 ] \n') == [(0, b'{"a": 1}'), (1, b"2")]
    assert _elements(b"[]") == [] and _elements(b"  ") == []
    # a trailing comma, an empty element: delivered empty (quarantined), indices kept
    assert _elements(b"[1,,2,]") == [(0, b"1"), (1, b""), (2, b"2"), (3, b"")]
    # an element over max_bytes is delivered truncated; the next ones are intact
    big = b'[1, "' + b"x" * 5000 + b'", {"b": [2]}]'
    got = _elements(big, max_bytes=100)
    assert [s for s, _ in got] == [0, 1, 2] and len(got[1][1]) == 101
    assert got[2] == (2, b'{"b": [2]}')
    # one object: one record (as before)
    assert _elements(b' {"a": [1, 2]}\n') == [(0, b'{"a": [1, 2]}')]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'"just a string"', "not a JSON array: the file starts with"),
        (b"not json at all", "not a JSON array"),
        (b'[{"a": 1}, {"a": 2', "not closed: the file ends inside element 1"),
        (b'[{"a": 1}] [2]', "data after the end of the JSON array"),
    ],
)
def test_not_an_array_is_a_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        _elements(data)


def test_malformed_element_is_quarantined_with_its_index(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    good = '{"device_id": "d%d", "timestamp": "2025-01-01T00:00:00Z", "temperature": 1}'
    parts = [good % i for i in range(6)]
    parts[2] = '{"device_id": "d2", "timestamp": }'  # malformed
    parts[4] = '{"device_id": "d4" "timestamp": "x"}'  # a missing comma
    path.write_text("[" + ",\n".join(parts) + "]")
    batch = _drain(source(contract("json", path)))
    assert batch.seqs == list(range(6))
    decoded = get_format("json").decode(batch, contract("json", path))
    errors = {
        i: (e, d) for i, (e, d) in enumerate(decoded.select(PARSE_ERROR, PARSE_DETAIL).rows()) if e
    }
    assert sorted(errors) == [2, 4]
    assert all(e == "invalid_json" and d for e, d in errors.values())


_MEASURE = """
import itertools, resource, sys
from lakesmith.formats.json_array import split_array

class Huge:
    '''A JSON array of ``n`` objects, generated as it is read.'''
    def __init__(self, n):
        rows = (b'{"i": %d, "pad": "%s"},' % (i, b"x" * 150) for i in range(n))
        self.parts = itertools.chain([b"["], rows, [b"{}]"])
        self.buf = b""
    def read(self, size=-1):
        while len(self.buf) < size:
            nxt = next(self.parts, None)
            if nxt is None:
                break
            self.buf += b"".join([nxt] + [p for _, p in zip(range(5000), self.parts)])
        out, self.buf = self.buf[:size], self.buf[size:]
        return out

count = 0
for _, els in split_array(Huge(int(sys.argv[1])), 1 << 20):
    count += len(els)
print(count, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def test_a_huge_array_is_split_in_bounded_memory() -> None:
    def run(n: int) -> tuple[int, int]:
        out = subprocess.run(
            [sys.executable, "-c", _MEASURE, str(n)], capture_output=True, text=True, check=True
        )
        count, peak_mib = out.stdout.split()
        return int(count), int(peak_mib)

    small, big = run(50_000), run(1_500_000)  # ~9 MB and ~260 MB of JSON
    assert small[0] == 50_001 and big[0] == 1_500_001
    assert big[1] < small[1] + 64, (small, big)  # not the array: a block and a chunk


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("s.json", b'"x"', "not a JSON array"),
        ("cut.json", b"[1, 2", "the JSON array is not closed"),
        ("cut.csv.gz", gzip.compress(CSV * 40)[:300], "not a complete gzip file"),
    ],
)
def test_ingest_names_the_file_it_cannot_read(
    tmp_path: Path, name: str, data: bytes, message: str
) -> None:
    from lakesmith.pipeline.ingest import prepare

    path = tmp_path / name
    path.write_bytes(data)
    fmt = "json" if name.endswith(".json") else None
    with pytest.raises(InputError, match=message) as err:
        prepare(Settings(state_dir=tmp_path / "state"), str(path), "t", fmt=fmt)
    assert str(path) in err.value.message
