"""Decode + validate on malformed, missing, oversized and hostile payloads (no services)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import orjson
import polars as pl
import pytest

from lakesmith.contracts import load_contract
from lakesmith.formats import json as decode_mod
from lakesmith.formats.json import decode_json
from lakesmith.quality.validate import validate

NOW = datetime(2025, 1, 21, tzinfo=UTC)
C = load_contract("iot.telemetry")


def good(i: int = 0, **extra: object) -> bytes:
    doc = {
        "device_id": f"sensor-{i:04d}",
        "timestamp": f"2025-01-20T10:{i // 60 % 60:02d}:{i % 60:02d}Z",
        "temperature": 21.5,
        "humidity": 60,
        "firmware_version": "v1.2.0",
        **extra,
    }
    return orjson.dumps(doc)


def outcome(payloads: list[bytes | None]) -> list[list[str]]:
    """Rule ids per input row, in input order ([] = valid)."""
    frame = decode_json(payloads, C).frame.with_row_index("_i")
    v = validate(frame, C, NOW)
    rows = pl.concat(
        [
            v.valid.select("_i", pl.lit([], dtype=pl.List(pl.String)).alias("_rule_ids")),
            v.invalid.select("_i", "_rule_ids"),
        ]
    ).sort("_i")
    assert rows.height == len(payloads)
    return rows["_rule_ids"].to_list()


CASES: list[tuple[str, bytes | None, list[str]]] = [
    ("valid", good(), []),
    ("valid v2", good(pressure=1013.2), []),
    ("truncated", b'{"device_id": "sensor-1", "timestamp": "2025-', ["invalid_json"]),
    ("not json", b"hello world", ["invalid_json"]),
    ("empty", b"", ["invalid_json"]),
    ("tombstone", None, ["invalid_json"]),
    ("one byte", b"{", ["invalid_json"]),
    ("array", b"[1, 2, 3]", ["not_an_object"]),
    ("string", b'"sensor"', ["not_an_object"]),
    ("number", b"42", ["not_an_object"]),
    ("oversized", good(debug="x" * 5000), ["payload_too_large"]),
    ("missing device", orjson.dumps({"timestamp": "2025-01-20T10:00:00Z"}), ["device_id_required"]),
    (
        "null timestamp",
        orjson.dumps({"device_id": "s1", "timestamp": None}),
        ["timestamp_required"],
    ),
    ("wrong type", good(temperature="hot"), ["temperature_type"]),
    ("bool as number", good(humidity=True), ["humidity_type"]),
    (
        "NaN token",
        good().replace(b'"temperature":21.5', b'"temperature":NaN'),
        ["temperature_not_finite"],
    ),
    (
        "-Infinity token",
        good().replace(b'"temperature":21.5', b'"temperature": -Infinity'),
        ["temperature_not_finite"],
    ),
    (
        "huge number",
        good().replace(b'"temperature":21.5', b'"temperature":1e400'),
        ["invalid_json"],
    ),
    ("out of range", good(temperature=150.0), ["temperature_range"]),
    ("two rules", good(temperature=-60.0, humidity=101), ["temperature_range", "humidity_range"]),
    ("no zone", good(timestamp="2025-01-20T10:00:00"), ["timestamp_type"]),
    ("words", good(timestamp="yesterday at noon"), ["timestamp_type"]),
    ("far future", good(timestamp="2100-01-01T00:00:00Z"), ["timestamp_window"]),
    ("ancient", good(timestamp="1900-01-01T00:00:00Z"), ["timestamp_window"]),
    ("bad firmware", good(firmware_version="1.2"), ["firmware_version_format"]),
    ("sql in id", good(device_id="x'); DROP TABLE t; --"), ["device_id_format"]),
    ("nested id", good(device_id={"a": 1}), ["device_id_format"]),
    ("nul in id", good(device_id="a\u0000b"), ["device_id_format"]),
    (
        "invalid utf-8",
        b'{"device_id":"\xff\xfe","timestamp":"2025-01-20T10:00:00Z"}',
        ["invalid_json"],
    ),
    ("pretty printed", orjson.dumps(orjson.loads(good()), option=orjson.OPT_INDENT_2), []),
    ("leading spaces", b"  \n" + good(), []),
    ("duplicate keys", good()[:-1] + b',"temperature":99.0}', []),
    ("unicode ok", good(firmware_version="v1.2.0", note="température ✓"), []),
    ("deep nesting", good(extra=orjson.loads(b"[" * 200 + b"]" * 200)), []),
]


@pytest.mark.parametrize(("name", "payload", "expected"), CASES, ids=[c[0] for c in CASES])
def test_single_payload(name: str, payload: bytes | None, expected: list[str]) -> None:
    # surrounded by valid records: a bad one must not affect its neighbours
    assert outcome([good(1), payload, good(2)]) == [[], expected, []]


def test_all_cases_in_one_batch_keep_their_order() -> None:
    payloads = [p for _, p, _ in CASES]
    assert outcome(payloads) == [e for _, _, e in CASES]


def test_unterminated_string_across_chunk_boundary(monkeypatch: pytest.MonkeyPatch) -> None:
    """The decoder may report an unterminated string inside the *next* record."""
    monkeypatch.setattr(decode_mod, "_CHUNK", 8)
    payloads: list[bytes | None] = [good(i) for i in range(40)]
    for k in (7, 8, 15, 23, 39):
        payloads[k] = b'{"device_id": "sensor-unterminated, "timestamp": "2025-01-20T10:00:00Z"'
    result = outcome(payloads)
    assert [i for i, r in enumerate(result) if r] == [7, 8, 15, 23, 39]
    assert all(r == ["invalid_json"] for r in result if r)


def test_random_garbage_never_breaks_alignment() -> None:
    rng = random.Random(3)
    payloads: list[bytes | None] = []
    expected_bad: set[int] = set()
    for i in range(3000):
        if rng.random() < 0.2:
            cut = good(i)[: rng.randrange(1, 60)]
            payloads.append(cut)
            expected_bad.add(i)
        else:
            payloads.append(good(i))
    result = outcome(payloads)
    assert {i for i, r in enumerate(result) if r} == expected_bad


def test_nested_paths_and_epoch_timestamps() -> None:
    env = load_contract("iot.environment")
    payloads: list[bytes | None] = [
        b'{"data":{"co":0.004,"humidity":58.2,"light":true,"lpg":0.007,"motion":false,"smoke":0.019,"temp":27},'
        b'"device_id":"5e:44","ts":1594598735.7727768,"device":"iot-device-02"}',
        b'{"data":"broken","ts":1594598735.5,"device":"iot-device-01"}',
        b'{"data":{"temp":"warm"},"ts":"noon","device":"iot-device-03"}',
    ]
    frame = decode_json(payloads, env).frame.with_row_index("_i")
    v = validate(frame, env, NOW)
    row = v.valid.filter(pl.col("_i") == 0).row(0, named=True)
    assert row["temp"] == 27.0 and row["light"] is True and row["motion"] is False
    assert row["ts"] == datetime(2020, 7, 13, 0, 5, 35, 772777, tzinfo=UTC)
    assert v.valid.filter(pl.col("_i") == 1)["temp"].to_list() == [
        None
    ]  # "data" not an object → fields absent
    bad = v.invalid.filter(pl.col("_i") == 2)["_rule_ids"].to_list()[0]
    assert set(bad) == {"ts_type", "temp_type"}


def test_freeze_policy_quarantines_newer_versions() -> None:
    from lakesmith.core.records import RawBatch
    from lakesmith.pipeline.process import process_batch
    from lakesmith.silver.dedupe import DedupeIndex

    frozen = C.model_copy(update={"evolution": "freeze"})
    payloads: list[bytes | None] = [good(1), good(2, pressure=1000.0), good(3)]
    raw = RawBatch("kafka://t")
    raw.extend("kafka://t/0", [0, 1, 2], payloads, timestamps_ms=[0] * 3)
    batch = process_batch(raw, frozen, NOW, DedupeIndex(C.keys), accepted_version=1)
    assert batch.silver["device_id"].to_list() == ["sensor-0001", "sensor-0003"]
    assert batch.quarantine["_rule_ids"].to_list() == [["schema_frozen"]]
    assert batch.bronze.height == 3
