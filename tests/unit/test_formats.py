"""The jsonl, csv and parquet payload formats: reading files into records and decoding
them, on good, malformed, missing, oversized and hostile input (no services)."""

from __future__ import annotations

import csv as pycsv
import io
import random
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakesmith.contracts.model import Contract
from lakesmith.core.errors import InputError
from lakesmith.core.records import RawBatch
from lakesmith.formats import PARSE_DETAIL, PARSE_ERROR, RecordChunk, get_format
from lakesmith.formats.csv_columns import field_counts, header_names
from lakesmith.formats.jsonl import split_records
from lakesmith.quality.typing import typed

FIELDS: list[dict[str, Any]] = [
    {"name": "device_id", "type": "string", "required": True},
    {"name": "timestamp", "type": "timestamp", "required": True, "format": "iso8601"},
    {"name": "temperature", "type": "double"},
    {"name": "humidity", "type": "double"},
    {"name": "firmware_version", "type": "string"},
]
NAMES = [f["name"] for f in FIELDS]


def contract(
    fmt: str, max_bytes: int = 4096, extra: list[dict[str, Any]] | None = None
) -> Contract:
    return Contract.model_validate(
        {
            "name": "iot.telemetry",
            "source": {"kind": "file", "path": "/nonexistent"},
            "payload": {"format": fmt, "max_bytes": max_bytes},
            "fields": FIELDS + (extra or []),
            "keys": ["device_id", "timestamp"],
            "event_time": "timestamp",
        }
    )


def doc(i: int) -> dict[str, Any]:
    return {
        "device_id": f"sensor-{i:04d}",
        "timestamp": f"2025-01-20T10:{i // 60 % 60:02d}:{i % 60:02d}Z",
        "temperature": 20 + i % 10 / 2,
        "humidity": 60,
        "firmware_version": "v1.2.0",
    }


def read_all(
    fmt: str, data: bytes, chunk_records: int = 1000, max_bytes: int = 4096
) -> list[RecordChunk]:
    return list(get_format(fmt).read(io.BytesIO(data), chunk_records, max_bytes))


def to_batch(chunks: list[RecordChunk], stream: str = "file:///x") -> RawBatch:
    batch = RawBatch(source="file:///x", uri_sep="#row=")
    for c in chunks:
        batch.extend(stream, list(range(c.first_seq, c.first_seq + len(c.payloads))), c.payloads)
        if c.context is not None:
            batch.context[stream] = c.context
    return batch


def decode(fmt: str, batch: RawBatch, c: Contract | None = None) -> pl.DataFrame:
    c = c or contract(fmt)
    frame = get_format(fmt).decode(batch, c)
    assert frame.height == len(batch)  # no record lost
    assert frame.columns == [f.name for f in c.fields] + [PARSE_ERROR, PARSE_DETAIL]
    assert all(dtype == pl.String for dtype in frame.dtypes)
    return frame


def seqs(chunks: list[RecordChunk]) -> list[int]:
    return [c.first_seq + i for c in chunks for i in range(len(c.payloads))]


def payloads(chunks: list[RecordChunk]) -> list[bytes | None]:
    return [p for c in chunks for p in c.payloads]


# -- jsonl -------------------------------------------------------------------------------


def test_jsonl_reads_lines_with_their_line_numbers() -> None:
    lines = [orjson.dumps(doc(i)) for i in range(5)]
    data = b"\xef\xbb\xbf" + lines[0] + b"\r\n\n" + lines[1] + b"\n   \n" + b"\n".join(lines[2:])
    chunks = read_all("jsonl", data, chunk_records=2)
    assert seqs(chunks) == [0, 2, 4, 5, 6]  # blank lines use a seq, are not delivered
    assert payloads(chunks) == lines
    assert all(len(c.payloads) <= 2 for c in chunks)
    frame = decode("jsonl", to_batch(chunks))
    assert frame["device_id"].to_list() == [f"sensor-{i:04d}" for i in range(5)]
    assert frame[PARSE_ERROR].null_count() == 5
    assert [float(t) for t in frame["temperature"]] == [20.0, 20.5, 21.0, 21.5, 22.0]


@pytest.mark.parametrize("block", [1, 2, 3, 7, 64, 4096])
def test_jsonl_split_does_not_depend_on_the_block_size(block: int) -> None:
    data = b'{"a":1}\r\n\n' + b"x" * 300 + b"\n{}\n  \t\n" + b'{"b":"\xff"}' + b"\n" * 3 + b"{"
    out: list[bytes] = []
    for seq, records in split_records(
        io.BytesIO(data), 64, blank_whitespace=True, block_bytes=block
    ):
        assert seq == len(out)
        out += records
    assert out == [b'{"a":1}', b"", b"x" * 65, b"{}", b"", b'{"b":"\xff"}', b"", b"", b"{"]


def test_jsonl_hostile_lines_become_errors_and_nothing_is_lost() -> None:
    good = [orjson.dumps(doc(i)) for i in range(3)]
    data = b"\n".join(
        [
            good[0],
            b'{"device_id": "sensor-\xff\xfe", "timestamp": "2025-01-20T10:00:00Z"}',  # bad UTF-8
            b'{"device_id": "a\x00b"}',  # raw NUL inside a string
            b"\x00\x00\x00",
            b'{"device_id": "sensor-1", "timestamp": "2025-',  # truncated
            good[1],
            b"[1, 2]",
            b'{"device_id": "x", "pad": "' + b"p" * 5000 + b'"}',  # oversized
            b'{"timestamp": "2025-01-20T10:00:00Z"}',  # missing fields: nulls, not an error
            good[2],
        ]
    )
    chunks = read_all("jsonl", data, max_bytes=4096)
    assert len(payloads(chunks)) == 10
    assert len(payloads(chunks)[7] or b"") == 4097  # truncated to max_bytes + 1
    frame = decode("jsonl", to_batch(chunks))
    assert frame[PARSE_ERROR].to_list() == [
        None,
        "invalid_json",
        "invalid_json",
        "invalid_json",
        "invalid_json",
        None,
        "not_an_object",
        "payload_too_large",
        None,
        None,
    ]
    assert frame["device_id"].to_list()[8] is None
    assert frame["device_id"].to_list()[9] == "sensor-0002"


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_json_nested_too_deeply_is_quarantined_not_a_crash(fmt: str) -> None:
    # 20,000 levels in 40 KB: the decoders recurse; one hostile message must not stop a
    # worker (RecursionError escaped the screen before), its neighbours still decode
    deep = b'{"device_id": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"
    batch = RawBatch(source="t")
    rows = [orjson.dumps(doc(0)), deep, orjson.dumps(doc(1))]
    batch.extend("t", list(range(3)), rows)
    frame = decode(fmt, batch, contract(fmt, max_bytes=65536))
    assert frame[PARSE_ERROR].to_list() == [None, "invalid_json", None]
    assert "nested too deeply" in frame[PARSE_DETAIL][1]
    assert frame["device_id"].to_list()[::2] == ["sensor-0000", "sensor-0001"]


def test_jsonl_giant_line_is_truncated_without_being_held_in_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    giant = b'{"device_id": "' + b"x" * 10_000_000 + b'"}'
    path.write_bytes(orjson.dumps(doc(0)) + b"\n" + giant + b"\n" + orjson.dumps(doc(1)) + b"\n")
    del giant
    tracemalloc.start()
    with path.open("rb") as fh:
        out = [
            (seq, records)
            for seq, records in split_records(fh, 4096, block_bytes=1 << 20)  # 1 MiB blocks
        ]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 4 * (1 << 20)  # a few blocks, never the 10 MB line
    records = [r for _, rs in out for r in rs]
    assert [len(r) for r in records] == [len(orjson.dumps(doc(0))), 4097, len(orjson.dumps(doc(1)))]
    with path.open("rb") as fh:
        chunks = list(get_format("jsonl").read(fh, 1000, 4096))
    frame = decode("jsonl", to_batch(chunks))
    assert frame[PARSE_ERROR].to_list() == [None, "payload_too_large", None]


def test_jsonl_empty_and_blank_files_have_no_records() -> None:
    assert read_all("jsonl", b"") == []
    assert read_all("jsonl", b"\n\n  \r\n") == []
    assert decode("jsonl", to_batch([])).height == 0


# -- csv ---------------------------------------------------------------------------------


def csv_text(rows: list[dict[str, Any]], header: list[str] = NAMES) -> bytes:
    out = io.StringIO()
    w = pycsv.writer(out, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow([r.get(h, "") for h in header])
    return out.getvalue().encode()


def test_csv_reads_rows_with_the_header_as_context() -> None:
    rows = [doc(i) for i in range(5)]
    rows[2]["firmware_version"] = 'v1.2.0 "beta",\nline two'  # quotes, comma, newline
    data = csv_text(rows).replace(b"\n", b"\r\n")
    data = b"\n" + data[:40] + data[40:].replace(b"\r\nsensor-0003", b"\r\n\r\nsensor-0003")
    chunks = read_all("csv", data, chunk_records=2)
    assert {c.context for c in chunks} == {b",".join(n.encode() for n in NAMES)}
    assert seqs(chunks) == [0, 1, 2, 4, 5]  # data rows; the blank row used seq 3
    assert (
        payloads(chunks)[2]
        == b'sensor-0002,2025-01-20T10:00:02Z,21.0,60,"v1.2.0 ""beta"",\r\nline two"'
    )
    frame = decode("csv", to_batch(chunks))
    assert frame[PARSE_ERROR].null_count() == 5
    assert frame["device_id"].to_list() == [f"sensor-{i:04d}" for i in range(5)]
    assert frame["firmware_version"][2] == 'v1.2.0 "beta",\r\nline two'
    assert frame["humidity"].to_list() == ["60"] * 5


def test_csv_columns_by_name_case_insensitive_missing_and_nested() -> None:
    c = contract("csv", extra=[{"name": "lat", "type": "double", "path": "loc.lat"}])
    header = b'TEMPERATURE, Device_ID ,timestamp,"loc",unused'
    rows: list[bytes | None] = [
        b'21.5,sensor-1,2025-01-20T10:00:00Z,"{""lat"": 48.1}",x',
        b",sensor-2,2025-01-20T10:00:00Z,,",
    ]
    batch = RawBatch("file:///x")
    batch.extend("s", [0, 1], rows)
    batch.context["s"] = header
    frame = decode("csv", batch, c)
    assert frame.rows() == [
        ("sensor-1", "2025-01-20T10:00:00Z", "21.5", None, None, "48.1", None, None),
        ("sensor-2", "2025-01-20T10:00:00Z", None, None, None, None, None, None),
    ]
    assert header_names(b'\xef\xbb\xbfa,"b,c",\xff') == ("a", "b,c", "\ufffd")
    # blank and repeated names get their position, so every column can be mapped
    assert header_names(b"id,value,value,,id, ,value_3") == (
        "id",
        "value",
        "value_3",
        "column_4",
        "id_5",
        "column_6",
        "value_3_7",
    )


def test_csv_malformed_rows_are_errors_and_good_rows_decode() -> None:
    good = b"sensor-1,2025-01-20T10:00:00Z,21.5,60,v1.2.0"
    cases: list[tuple[bytes | None, str | None]] = [
        (good, None),
        (b"sensor-2,2025-01-20T10:00:00Z", "invalid_csv"),  # too few fields
        (good + b",extra", "invalid_csv"),  # too many fields
        (b'sensor-3,"2025-01-20T10:00:00Z,21.5,60,v1', "invalid_csv"),  # unbalanced quote
        (b'sensor-4,2025-01-20T10:00:00Z,"21"5,60,v1', "invalid_csv"),  # text after a quote
        (b"sensor-5,2025-01-20T10:00:00Z,\xff\xfe,60,v1", "invalid_csv"),  # invalid UTF-8
        (b"sensor-6,2025-01-20T10:00:00Z,2\x001,60,v1", "invalid_csv"),  # NUL byte
        (b"sensor-7,2025-01-20T10:00:00Z,21.5,60," + b"v" * 5000, "payload_too_large"),
        (None, "invalid_csv"),  # a Kafka tombstone
        (b"", "invalid_csv"),
        (b'sensor-8,2025-01-20T10:00:00Z,"21,5",60,"v1\n2"', None),  # quoted comma + newline
        (b"sensor-9,2025-01-20T10:00:00Z,,,\r", None),  # empty fields, CRLF leftover
        (good, None),
    ]
    batch = RawBatch("kafka://t")
    batch.extend("kafka://t/0", list(range(len(cases))), [p for p, _ in cases])
    frame = decode("csv", batch)  # no header: the contract's fields, in order
    assert frame[PARSE_ERROR].to_list() == [e for _, e in cases]
    assert frame.filter(pl.col(PARSE_ERROR).is_not_null())[PARSE_DETAIL].null_count() == 0
    bad = frame.filter(pl.col(PARSE_ERROR).is_not_null())
    assert bad.select(NAMES).null_count().row(0) == (bad.height,) * len(NAMES)
    assert frame["device_id"].to_list()[-3:] == ["sensor-8", "sensor-9", "sensor-1"]
    assert frame["temperature"][10] == "21,5"
    assert frame["humidity"][11] is None
    details = dict(zip(range(len(cases)), frame[PARSE_DETAIL].to_list(), strict=True))
    assert details[1] == "expected 5 fields, found 2"
    assert details[2] == "expected 5 fields, found 6"


def test_csv_first_row_malformed_and_everything_malformed() -> None:
    for rows in (
        [b"a,b,c,d,e,f,g", b"s,2025-01-20T10:00:00Z,1,2,v"],
        [b"a", b"s,2025-01-20T10:00:00Z,1,2,v"],
        [b"a", b"b,c", b'"'],
    ):
        batch = RawBatch("k")
        batch.extend("k/0", list(range(len(rows))), list(rows))
        frame = decode("csv", batch)
        n_good = sum(r.count(b",") == 4 for r in rows)
        assert frame[PARSE_ERROR].null_count() == n_good


def test_csv_streams_with_different_headers_keep_the_batch_order() -> None:
    batch = RawBatch("file:///x")
    a, b = "file:///a.csv@1-1", "file:///b.csv@1-1"
    batch.extend(a, [0], [b"sensor-a0,2025-01-20T10:00:00Z,1"])
    batch.extend(b, [0], [b"2,2025-01-20T10:00:00Z,sensor-b0"])
    batch.extend(a, [1], [b"sensor-a1,2025-01-20T10:00:00Z,3"])
    batch.extend(b, [1], [b"oops"])
    batch.extend("kafka://t/0", [7], [b"sensor-k,2025-01-20T10:00:00Z,5,6,v"])
    batch.context[a] = b"device_id,timestamp,temperature"
    batch.context[b] = b"temperature,timestamp,device_id"
    frame = decode("csv", batch)
    assert frame["device_id"].to_list() == ["sensor-a0", "sensor-b0", "sensor-a1", None, "sensor-k"]
    assert frame["temperature"].to_list() == ["1", "2", "3", None, "5"]
    assert frame[PARSE_ERROR].to_list() == [None, None, None, "invalid_csv", None]


def test_csv_hostile_files() -> None:
    assert read_all("csv", b"") == []  # empty file
    assert read_all("csv", b"\n\n") == []
    assert read_all("csv", b",".join(n.encode() for n in NAMES) + b"\r\n") == []  # header only
    with pytest.raises(InputError, match="header is longer"):
        read_all("csv", b"h" * 100 + b"\n1\n", max_bytes=64)
    # A stray quote costs one row, not the rest of the file.
    rows = [b"sensor-%d,2025-01-20T10:00:00Z,1,2,v" % i for i in range(200)]
    rows[5] = b'sensor-5,"2025-01-20T10:00:00Z,1,2,v'
    data = b",".join(n.encode() for n in NAMES) + b"\n" + b"\n".join(rows) + b"\n"
    chunks = read_all("csv", data, max_bytes=256)
    assert payloads(chunks) == rows and seqs(chunks) == list(range(200))
    frame = decode("csv", to_batch(chunks), contract("csv", max_bytes=256))
    assert frame[PARSE_ERROR].to_list() == [None] * 5 + ["invalid_csv"] + [None] * 194
    # A 10 MB line without a newline, NUL bytes and invalid UTF-8.
    data = b"a,b\n" + b"x" * 10_000_000 + b"\n\x00\x00,\xff\n1,2"
    chunks = read_all("csv", data, max_bytes=4096)
    assert [len(p or b"") for p in payloads(chunks)] == [4097, 4, 3]
    assert seqs(chunks) == [0, 1, 2]


def reference_split(data: bytes) -> list[bytes]:
    """Records by the RFC 4180 rule, one byte at a time (for tests only)."""
    out, start, inside = [], 0, False
    for i, ch in enumerate(data):
        if ch == ord('"'):
            inside = not inside
        elif ch == ord("\n") and not inside:
            out.append(data[start:i])
            start = i + 1
    if start < len(data):
        out.append(data[start:])
    return [r[:-1] if r.endswith(b"\r") else r for r in out]


@pytest.mark.parametrize("seed", range(20))
def test_csv_split_matches_rfc4180_and_any_block_size(seed: int) -> None:
    rng = random.Random(seed)
    alphabet = ["a", "b", ",", " ", '"', "\n", "\r\n", "é"]
    rows = []
    for _ in range(rng.randint(1, 40)):
        fields = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6))) for _ in range(3)]
        rows.append(fields)
    out = io.StringIO()
    pycsv.writer(out, lineterminator=rng.choice(["\n", "\r\n"])).writerows(rows)
    data = out.getvalue().encode()
    expected = reference_split(data)
    for block in (1, 3, 16, 1 << 20):
        got: list[bytes] = []
        for seq, records in split_records(
            io.BytesIO(data), 1 << 16, quoted=True, block_bytes=block
        ):
            assert seq == len(got)
            got += records
        assert got == expected
    # and the decoded fields are what the csv module wrote
    c = Contract.model_validate(
        {
            "name": "t.t",
            "source": {"kind": "file", "path": "x"},
            "payload": {"format": "csv"},
            "fields": [
                {"name": "a", "type": "string", "required": True},
                {"name": "b", "type": "string"},
                {"name": "ts", "type": "timestamp"},
            ],
            "keys": ["a"],
            "event_time": "ts",
        }
    )
    kept = [r for r in expected if r]
    batch = RawBatch("k")
    batch.extend("k/0", list(range(len(kept))), list(kept))
    batch.context["k/0"] = b"a,b,ts"
    frame = get_format("csv").decode(batch, c)
    parsed = [r for r in pycsv.reader(io.StringIO(data.decode(), newline="")) if r]
    want = [tuple(v if v != "" else None for v in r) for r in parsed]
    got_rows = [
        tuple(v if v != "" else None for v in r) for r in frame.select("a", "b", "ts").rows()
    ]
    # Polars keeps a quoted "" as an empty string; the csv module cannot tell: compare as null.
    assert frame[PARSE_ERROR].null_count() == len(kept)
    assert got_rows == want


def test_field_counts_ignore_commas_inside_quotes() -> None:
    rows = [b'a,"b,c",d', b'"x,y"', b"", b',,"",', b'"a""b,",c']
    buf = b",~\n".join(rows)
    lens = [len(r) for r in rows]
    starts = [sum(lens[:i]) + 3 * i for i in range(len(rows))]
    arr = np.frombuffer(buf, dtype=np.uint8)
    st = np.array(starts, dtype=np.int64)
    counts = field_counts(arr, st, st + np.array(lens, dtype=np.int64))
    assert counts.tolist() == [3, 1, 1, 4, 2]


# -- parquet -----------------------------------------------------------------------------


def parquet_bytes(table: pa.Table, row_group_size: int = 1000) -> bytes:
    out = io.BytesIO()
    pq.write_table(table, out, row_group_size=row_group_size)
    return out.getvalue()


def telemetry_table(n: int) -> pa.Table:
    return pa.table(
        {
            "device_id": [f"sensor-{i:04d}" for i in range(n)],
            "timestamp": pa.array(
                [datetime(2025, 1, 20, 10, 0, i % 60, 123000, tzinfo=UTC) for i in range(n)],
                pa.timestamp("ms", tz="UTC"),
            ),
            "temperature": [20.0 + i for i in range(n)],
            "humidity": pa.array([60] * n, pa.int32()),
            "firmware_version": ["v1.2.0"] * n,
        }
    )


def test_parquet_rows_become_json_that_types_like_json() -> None:
    data = parquet_bytes(telemetry_table(10), row_group_size=4)
    chunks = read_all("parquet", data, chunk_records=3)
    assert seqs(chunks) == list(range(10))
    assert all(len(c.payloads) <= 3 for c in chunks)
    first = orjson.loads(payloads(chunks)[0] or b"")
    assert first["timestamp"] == "2025-01-20T10:00:00.123+00:00"
    frame = decode("parquet", to_batch(chunks))
    assert frame[PARSE_ERROR].null_count() == 10
    assert [float(t) for t in frame["temperature"].to_list()[:2]] == [20.0, 21.0]
    ts_field = contract("parquet").field("timestamp")
    value, error = typed(ts_field)
    out = frame.select(value, error.alias("bad"))
    assert out["bad"].sum() == 0
    assert out["timestamp"][0] == datetime(2025, 1, 20, 10, 0, 0, 123000, tzinfo=UTC)


def test_parquet_special_values() -> None:
    table = pa.table(
        {
            "device_id": ["a", "b", "c"],
            "timestamp": pa.array([datetime(2025, 1, 20, 10)] * 3, pa.timestamp("us")),  # naive
            "temperature": [1.5, float("nan"), float("-inf")],
            "humidity": pa.array([b"\x00\xff", None, b"z"], pa.binary()),
            "firmware_version": pa.array([{"v": 1}, None, {"v": None}]),
        }
    )
    chunks = read_all("parquet", parquet_bytes(table))
    frame = decode("parquet", to_batch(chunks))
    assert frame[PARSE_ERROR].null_count() == 3
    assert frame["timestamp"].to_list() == ["2025-01-20T10:00:00+00:00"] * 3  # naive = UTC
    assert frame["temperature"].to_list() == ["1.5", "NaN", "-inf"]
    assert frame["humidity"].to_list() == ["AP8=", None, "eg=="]
    assert frame["firmware_version"].to_list() == ['{"v": 1}', None, '{"v": null}']


def test_parquet_read_from_skips_without_converting() -> None:
    data = parquet_bytes(telemetry_table(25), row_group_size=10)
    fmt = get_format("parquet")
    for start in (0, 1, 10, 19, 24, 25, 40):
        chunks = list(fmt.read_from(io.BytesIO(data), 4, 4096, start))  # type: ignore[attr-defined]
        assert seqs(chunks) == list(range(start, 25))
        if start < 25:
            assert orjson.loads(payloads(chunks)[0] or b"")["device_id"] == f"sensor-{start:04d}"


def test_parquet_oversized_row_and_empty_table() -> None:
    table = pa.table({"device_id": ["a", "b" * 5000], "timestamp": ["t", "t"]})
    chunks = read_all("parquet", parquet_bytes(table), max_bytes=4096)
    assert [len(p or b"") for p in payloads(chunks)] == [33, 4097]
    frame = decode("parquet", to_batch(chunks))
    assert frame[PARSE_ERROR].to_list() == [None, "payload_too_large"]
    assert read_all("parquet", parquet_bytes(table.slice(0, 0))) == []


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b"",
        lambda b: b[: len(b) // 2],  # truncated
        lambda b: b[:-9] + b"\x00" * 9,  # footer gone
        lambda b: b"device_id,timestamp\nx,y\n",  # not Parquet at all
        lambda b: b[:4] + bytes(len(b) - 12) + b[-8:],  # metadata zeroed
    ],
)
def test_parquet_corrupt_files_raise_input_error(damage: Any) -> None:
    data = damage(parquet_bytes(telemetry_table(100)))
    with pytest.raises(InputError, match="Parquet"):
        read_all("parquet", data)


def test_parquet_corrupt_pages_raise_input_error() -> None:
    table = pa.table({"device_id": [f"sensor-{i}" for i in range(5000)]})
    out = io.BytesIO()
    pq.write_table(table, out, compression="snappy", use_dictionary=False)
    data = bytearray(out.getvalue())
    for i in range(100, 2000):  # scribble over the data pages, keep the footer
        data[i] = (data[i] * 7 + 13) % 256
    with pytest.raises(InputError, match="Parquet"):
        read_all("parquet", bytes(data))


# -- files as exports write them (lakesmith ingest) ---------------------------------------


def _csv_frame(header: bytes, rows: list[bytes], fields: list[dict[str, Any]]) -> pl.DataFrame:
    c = Contract.model_validate(
        {
            "name": "t.t",
            "source": {"kind": "file", "path": "x"},
            "payload": {"format": "csv"},
            "fields": [*fields, {"name": "seen", "type": "timestamp", "path": "@source_ts"}],
            "keys": [],
            "event_time": "seen",
        }
    )
    batch = RawBatch("k")
    batch.extend("k/0", list(range(len(rows))), list(rows), timestamps_ms=[0] * len(rows))
    batch.context["k/0"] = header
    frame = get_format("csv").decode(batch, c)
    return frame.with_columns(v for v, _ in (typed(f) for f in c.fields))


@pytest.mark.parametrize(
    ("header", "delimiter"),
    [(b"a,b", ","), (b"a;b", ";"), (b"a\tb", "\t"), (b"a|b", "|"), (b'"x;y",b', ","), (b"a", ",")],
)
def test_the_delimiter_is_sniffed_from_the_header(header: bytes, delimiter: str) -> None:
    from lakesmith.formats.csv_columns import sniff_delimiter

    assert chr(sniff_delimiter(header)) == delimiter


def test_padded_numbers_decimal_commas_and_quoted_delimiters() -> None:
    fields = [
        {"name": "id", "type": "long"},
        {"name": "price", "type": "double"},
        {"name": "label", "type": "string"},
        {"name": "ok", "type": "boolean"},
    ]
    rows = [b'"  1";"1,5";"a;b";" true"', b"2;2,25; c ;false", b"3;x;d;true"]
    frame = _csv_frame(b"\xef\xbb\xbfid;price;label;ok\r", rows, fields)
    assert frame[PARSE_ERROR].null_count() == 3
    assert frame.select("id", "price", "label", "ok").rows() == [
        (1, 1.5, "a;b", True),
        (2, 2.25, " c ", False),  # strings keep their text
        (3, None, "d", True),  # 'x' is a type error for validation
    ]
    assert frame["seen"].to_list() == [datetime(1970, 1, 1, tzinfo=UTC)] * 3


def test_rows_wider_than_the_header_read_through_column_k_fields() -> None:
    fields = [{"name": "a", "type": "long"}, {"name": "column_3", "type": "long"}]
    frame = _csv_frame(b"a,b", [b"1,2,3", b"4,5"], fields)
    assert frame.select("a", "column_3").row(0) == (1, 3)
    assert frame[PARSE_ERROR].to_list() == [None, "invalid_csv"]
    assert "expected 3 fields, found 2" in frame[PARSE_DETAIL][1]


def test_contract_inference_types_nullability_and_names(tmp_path: Path) -> None:
    from lakesmith.contracts.infer import infer_contract

    path = tmp_path / "x.csv"
    path.write_bytes(
        b"Order ID,Zip,Price,Paid,Created At,Note,2024\n"
        b"1,01234,1.5,true,2024-01-02T10:00:00Z,,7\n"
        b"2,02345,2,false,2024-01-03T10:00:00+01:00,hi,8\n"
    )
    c = infer_contract("files.x", [path], "csv", source={"kind": "file", "path": str(path)})
    got = {f.name: (f.type, f.required, f.path) for f in c.fields}
    assert got == {
        "order_id": ("long", True, "Order ID"),
        "zip": ("string", True, "Zip"),  # leading zeros: a code, not a number
        "price": ("double", True, "Price"),
        "paid": ("boolean", True, "Paid"),
        "created_at": ("timestamp", True, "Created At"),
        "note": ("string", False, "Note"),
        "c_2024": ("long", True, "2024"),
    }
    assert c.event_time == "created_at" and c.keys == []
    # a second file with a new column widens it as version 2
    more = tmp_path / "y.csv"
    more.write_bytes(b"Order ID,Coupon\n3,ABC\n")
    wider = infer_contract(
        "files.x", [more], "csv", source={"kind": "file", "path": str(more)}, base=c
    )
    assert wider.field("coupon").since == 2 and not wider.field("coupon").required
    assert [f.name for f in wider.fields][: len(c.fields)] == [f.name for f in c.fields]


def test_json_lines_inference_finds_keys_late_in_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lakesmith.contracts import infer

    monkeypatch.setattr(infer, "SAMPLE_BYTES", 1000)
    monkeypatch.setattr(infer, "SAMPLE_ROWS", 20)
    monkeypatch.setattr(infer, "PROBE_BYTES", 500)
    path = tmp_path / "e.jsonl"
    head = b"".join(b'{"n": %d, "t": "2024-01-01 00:00:00"}\n' % i for i in range(200))
    tail = b"".join(b'{"n": %d, "late": {"k": 1}}\n' % i for i in range(200))
    path.write_bytes(head + tail)
    c = infer.infer_contract("files.e", [path], "jsonl", source={"kind": "file", "path": "x"})
    assert c.field("t").type == "timestamp" and c.field("t").timezone == "UTC"
    assert c.field("late").type == "string" and c.field("late").since == 2


def test_booleans_in_any_case_are_typed_and_inferred() -> None:
    """Spreadsheets write ``TRUE``/``FALSE``; anything else stays a type error."""
    from lakesmith.contracts.infer import infer_type
    from lakesmith.contracts.model import FieldSpec

    texts = ["true", "FALSE", "True", "false", "yes", "1", None]
    value, error = typed(FieldSpec(name="b", type="boolean"))
    out = pl.DataFrame({"b": texts}).select(value, error.alias("err"))
    assert out["b"].to_list() == [True, False, True, False, None, None, None]
    assert out["err"].to_list() == [False, False, False, False, True, True, False]
    assert infer_type(pl.Series(["TRUE", "false", None])) == ("boolean", None)
    assert infer_type(pl.Series(["TRUE", "yes"])) == ("string", None)
    # a batch of only lower-case texts (the comparison-only path) types the same way
    lower = pl.DataFrame({"b": ["true", None, "false", "true"]}).select(value, error.alias("e"))
    assert lower["b"].to_list() == [True, None, False, True]
    assert lower["e"].to_list() == [False, False, False, False]
    one_bad = pl.DataFrame({"b": ["true", "false", "ja"]}).select(value, error.alias("e"))
    assert one_bad["b"].to_list() == [True, False, None]
    assert one_bad["e"].to_list() == [False, False, True]


def test_unreadable_file_types_are_named_with_a_fix(tmp_path: Path) -> None:
    """A workbook or an archive is named as such, with what to do, not "pass --format csv"
    (which would read the workbook's bytes as text); `lakesmith profile` says the same."""
    from typer.testing import CliRunner

    from lakesmith.cli import app
    from lakesmith.formats import unknown_format_hint

    message, fix = unknown_format_hint(Path("/in/Q3 sales.xlsx"))
    assert (
        message
        == "cannot read /in/Q3 sales.xlsx: it is an Excel workbook, which lakesmith does not read"
    )
    assert "CSV" in fix
    assert "unpack" in unknown_format_hint(Path("a.zip"))[1]
    assert unknown_format_hint(Path("x.bin"), "s3://b/x.bin") == (
        "cannot tell the format of s3://b/x.bin from its name",
        "pass --format csv, jsonl or parquet",
    )
    book = tmp_path / "book.xlsx"
    book.write_bytes(b"PK\x03\x04 workbook")
    result = CliRunner().invoke(app, ["profile", str(book)])  # the error lakesmith prints
    assert isinstance(result.exception, InputError)
    assert "it is an Excel workbook" in result.exception.message


def test_a_lone_surrogate_escape_does_not_stop_inference(tmp_path: Path) -> None:
    """``"\\ud800"`` is valid JSON but no text Polars can hold: sampling used to fail the
    whole ingest ("cannot sample …: surrogates not allowed")."""
    from lakesmith.contracts.infer import infer_contract

    path = tmp_path / "odd.jsonl"
    path.write_bytes(b'{"id":1,"s":"ok"}\n{"id":2,"s":"\\ud800"}\n{"id":3,"s":"caf\\u00e9"}\n')
    c = infer_contract("files.s", [path], "jsonl", source={"kind": "file", "path": str(path)})
    assert {f.name: f.type for f in c.fields if f.name in ("id", "s")} == {
        "id": "long",
        "s": "string",
    }


def test_missing_value_markers_keep_a_column_numeric(tmp_path: Path) -> None:
    """``NA``/``N/A``/``NULL`` in a column of numbers (R, spreadsheets, database dumps):
    the column is typed as numbers with them as ``null_values``, read as null; any other
    text keeps the column a string."""
    from lakesmith.contracts.infer import infer_contract
    from lakesmith.contracts.model import FieldSpec

    path = tmp_path / "na.csv"
    path.write_bytes(b"id,temp,n,word\n1,21.5,3,a\n2,NA,NULL,NA\n3, N/A ,4,c\n4,22,5,d\n")
    c = infer_contract("files.na", [path], "csv", source={"kind": "file", "path": str(path)})
    got = {
        f.name: (f.type, f.required, f.null_values) for f in c.fields if f.name != "file_modified"
    }
    assert got == {
        "id": ("long", True, []),
        "temp": ("double", False, ["N/A", "NA"]),
        "n": ("long", False, ["NULL"]),
        "word": ("string", True, []),  # text with a marker in it is still text
    }
    value, error = typed(FieldSpec(name="t", type="double", null_values=["NA", "N/A"]))
    out = pl.DataFrame({"t": ["1.5", "NA", " N/A ", "hot", None]}).select(value, error.alias("e"))
    assert out["t"].to_list() == [1.5, None, None, None, None]
    assert out["e"].to_list() == [False, False, False, True, False]
