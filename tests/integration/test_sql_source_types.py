"""The ``sql`` source on awkward PostgreSQL types and hostile rows: numeric, timestamps
with and without zone, date, json/jsonb, uuid, bytea, arrays, interval, NaN, column names
with spaces, Unicode, capitals and reserved words, NULL keys, a huge text value."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from lakesmith.config import Settings
from lakesmith.pipeline.worker import Worker
from lakesmith.stores.sql_source_db import create_database, drop_database, execute
from lakesmith.testing.pipeline import read_sinks, unique_contract

pytestmark = pytest.mark.integration

DDL = """
CREATE TABLE public."Awkward Table" (
    "Order ID" bigint, "naïve café" text, "select" integer, "MixedCase" text,
    big numeric(38, 10), ts_tz timestamptz, ts_naive timestamp, d date,
    j json, jb jsonb, u uuid, b bytea, arr integer[], tags text[], iv interval,
    f float8, flag boolean, huge text, updated_at timestamptz NOT NULL
)
"""
ROW = """
INSERT INTO public."Awkward Table" VALUES (
    %s, 'crème brûlée ☕', 7, 'Up', 12345678901234567890.0123456789,
    '2025-01-20 10:00:00.123+02', '2025-01-20 10:00:00', '2025-01-20',
    '{"a": {"b": 1}, "s": "x"}', '{"k": [1, 2, {"z": null}]}',
    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\\x00ff10', '{1,2,NULL}', '{"a b","c,d"}',
    '1 day 02:03:04', %s, true, %s, %s
)
"""


@pytest.fixture
def awkward_db(stack_settings: Settings) -> Iterator[tuple[str, str]]:
    name = f"sqlsrc_{uuid.uuid4().hex[:10]}"
    url = create_database(stack_settings, name)
    execute(url, DDL)
    rows = [
        (1, 1.5, "ok", "2025-02-01T00:00:00Z"),
        (None, 2.5, "no key", "2025-02-01T00:00:01Z"),  # NULL key → quarantine
        (3, float("nan"), "nan", "2025-02-01T00:00:02Z"),  # NaN → not finite
        (4, 4.5, "x" * 100_000, "2025-02-01T00:00:03Z"),  # over max_bytes
    ]
    for r in rows:
        execute(url, ROW, list(r))
    execute(  # timestamptz 'infinity' → <field>_type
        url,
        'INSERT INTO public."Awkward Table" ("Order ID", ts_tz, f, updated_at) '
        "VALUES (5, 'infinity', 1.0, '2025-02-01T00:00:04Z')",
    )
    yield name, url
    drop_database(stack_settings, name)


def test_awkward_types_and_hostile_rows(
    stack_settings: Settings, awkward_db: tuple[str, str], tmp_path: Path
) -> None:
    db, _ = awkward_db
    fields = [
        {"name": "order_id", "type": "long", "required": True, "path": "Order ID"},
        {"name": "cafe", "type": "string", "path": "naïve café"},
        {"name": "select_", "type": "long", "path": "select"},
        {"name": "mixed", "type": "string", "path": "MixedCase"},
        {"name": "big_text", "type": "string", "path": "big"},
        {"name": "big", "type": "double"},
        {"name": "ts_tz", "type": "timestamp", "format": "iso8601"},
        {"name": "ts_naive", "type": "timestamp", "format": "iso8601", "timezone": "UTC"},
        {"name": "d", "type": "string"},
        {"name": "j_ab", "type": "long", "path": "j.a.b"},
        {"name": "jb", "type": "string"},
        {"name": "u", "type": "string"},
        {"name": "b", "type": "string"},
        {"name": "arr", "type": "string"},
        {"name": "tags", "type": "string"},
        {"name": "iv", "type": "string"},
        {"name": "f", "type": "double"},
        {"name": "flag", "type": "boolean"},
        {"name": "huge", "type": "string"},
        {"name": "updated_at", "type": "timestamp", "required": True, "format": "iso8601"},
    ]
    contract, _ = unique_contract(
        tmp_path,
        source={
            "kind": "sql",
            "postgres_database": db,
            "table": "public.Awkward Table",
            "key": ["Order ID"],
            "watermark": "updated_at",
            "lag": "0s",
        },
        payload={"format": "json", "max_bytes": 16384},
        fields=fields,
        keys=["order_id", "updated_at"],
        event_time="updated_at",
        rules=[],
        lake={},
        timeseries=None,
    )
    fast = stack_settings.model_copy(
        update={"worker": stack_settings.worker.model_copy(update={"idle_timeout_s": 0.3})}
    )
    worker = Worker(fast, contract)
    try:
        stats = worker.run(until_idle=True)
    finally:
        worker.close()
    assert stats.records == 5
    sinks = read_sinks(stack_settings, contract)
    assert sinks.silver.height == 1
    row = sinks.silver.row(0, named=True)
    assert row["cafe"] == "crème brûlée ☕" and row["select_"] == 7 and row["mixed"] == "Up"
    assert row["big_text"] == "12345678901234567890.0123456789"  # numeric: every digit
    assert row["big"] == pytest.approx(1.2345678901234567e19)
    assert row["ts_tz"] == datetime(2025, 1, 20, 8, 0, 0, 123000, tzinfo=UTC)
    assert row["ts_naive"] == datetime(2025, 1, 20, 10, 0, tzinfo=UTC)  # timezone: UTC
    assert row["d"] == "2025-01-20"
    assert row["j_ab"] == 1  # a path into a json column
    assert orjson.loads(row["jb"]) == {"k": [1, 2, {"z": None}]}  # jsonb whole: its JSON
    assert row["u"] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    assert row["b"] == "\\x00ff10"  # bytea: PostgreSQL's hex text
    assert orjson.loads(row["arr"]) == [1, 2, None]
    assert orjson.loads(row["tags"]) == ["a b", "c,d"]
    assert row["iv"] == "1 day 02:03:04"
    assert row["flag"] is True and row["f"] == 1.5
    rules = {
        r["_seq"]: r["_rule_ids"] for r in sinks.quarantine.select("_seq", "_rule_ids").to_dicts()
    }
    assert rules == {
        1: ["order_id_required"],  # NULL key
        2: ["f_not_finite"],  # float8 NaN
        3: ["payload_too_large"],  # 100 kB of text
        4: ["ts_tz_type"],  # 'infinity'
    }
    # nothing lost: the quarantined rows keep their payload (the huge one cut at max_bytes)
    sizes = sinks.quarantine.sort("_seq")["_payload"].bin.size().to_list()
    assert sizes[2] == 16385 and all(s < 16384 for s in sizes[:2])
    inf = orjson.loads(sinks.quarantine.sort("_seq")["_payload"][3])
    assert inf["ts_tz"] == "out-of-range timestamp" and inf["Order ID"] == 5


def test_a_query_source_and_unreachable_database(
    stack_settings: Settings, awkward_db: tuple[str, str], tmp_path: Path
) -> None:
    from lakesmith.core.errors import ServiceUnavailableError
    from lakesmith.sources.sql_spec import SqlSourceSpec
    from lakesmith.stores.sql_reader import open_reader

    db, url = awkward_db
    spec = SqlSourceSpec(
        postgres_database=db,
        query='SELECT "Order ID" AS id, f, updated_at FROM public."Awkward Table" '
        "WHERE f::text LIKE '%.5'",
        key=["id"],
        mode="full",
    )
    reader = open_reader(spec.resolved_url(stack_settings), spec)
    try:
        reader.open(None, None)
        rows = reader.fetch(10).to_dicts()
    finally:
        reader.close()
    assert [r["id"] for r in rows] == [1, 4, None]  # NULLs sort last (5: f = 1.0)
    bad = url.replace(db, db + "_missing")
    spec = SqlSourceSpec(url=bad, table="t", key=["id"], mode="full")
    with pytest.raises(ServiceUnavailableError) as err:
        open_reader(spec.resolved_url(), spec)
    assert "_missing" in str(err.value)
    password = url.split(":")[2].split("@")[0]
    assert (
        password not in str(err.value) and password not in spec.uri and password not in repr(spec)
    )
