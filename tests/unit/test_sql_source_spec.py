"""The ``sql`` source kind without services: its contract section, the lag arithmetic,
and the generic SQLAlchemy reader end to end on SQLite (full, incremental, soft deletes)."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from lakesmith.config import load_settings
from lakesmith.contracts import Contract
from lakesmith.core.errors import ConfigError, ContractError
from lakesmith.core.positions import Position
from lakesmith.sources.base import SourceContext
from lakesmith.sources.sql import SqlSource
from lakesmith.sources.sql_spec import SqlSourceSpec
from lakesmith.stores.sql_reader import lower_bound

URL = "postgresql+psycopg://reader:s3cr3t-pw@db.example:5433/shop"


def spec(**kw: Any) -> SqlSourceSpec:
    base: dict[str, Any] = {"url": URL, "table": "public.orders", "key": ["id"]}
    return SqlSourceSpec.model_validate({**base, "watermark": "updated_at", **kw})


def test_spec_identity_has_no_credentials() -> None:
    s = spec()
    assert s.uri == "postgresql://db.example:5433/shop/public.orders?wm=updated_at"
    assert "s3cr3t" not in s.uri and "s3cr3t" not in repr(s) and "s3cr3t" not in str(s)
    assert spec(mode="full", watermark=None).uri.endswith("/public.orders?full")
    local = spec(url=None, postgres_database="shop")
    assert local.uri == "postgresql:///shop/public.orders?wm=updated_at"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"url": None}, "exactly one of url, url_env or postgres_database"),
        ({"url_env": "X"}, "exactly one of url, url_env or postgres_database"),
        ({"query": "SELECT 1"}, "exactly one of table or query"),
        ({"watermark": None}, "needs a watermark column"),
        ({"table": None, "query": "DELETE FROM orders"}, "must be a SELECT"),
        ({"lag": "5 minutes"}, "must look like 30s"),
        ({"lag": -1}, "must not be negative"),
        ({"key": []}, "at least 1"),
        ({"table": "a.b.c"}, "schema.name"),
    ],
)
def test_spec_errors_are_one_line(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        spec(**change)


def test_url_env(monkeypatch: pytest.MonkeyPatch) -> None:
    s = spec(url=None, url_env="SHOP_DB_URL")
    with pytest.raises(ConfigError, match="SHOP_DB_URL is not set"):
        s.resolved_url()
    assert s.uri == "sql://SHOP_DB_URL/public.orders"
    monkeypatch.setenv("SHOP_DB_URL", URL)
    assert s.resolved_url() == URL
    assert s.uri.startswith("postgresql://db.example:5433/shop/")


def test_lower_bound() -> None:
    assert lower_bound("2025-01-20T10:05:00+00:00", timedelta(minutes=5)) == datetime(
        2025, 1, 20, 10, 0, tzinfo=UTC
    )
    assert lower_bound(1000, Decimal(10)) == 990
    assert lower_bound(2.5, Decimal("0.5")) == 2
    assert lower_bound("12.75", Decimal("0.25")) == Decimal("12.50")
    with pytest.raises(ConfigError, match="give lag as a number"):
        lower_bound(1000, timedelta(minutes=5))
    with pytest.raises(ConfigError, match="not an ISO timestamp"):
        lower_bound("yesterday", timedelta(minutes=5))


# -- the generic (SQLAlchemy) reader on SQLite ---------------------------------------------


def make_db(path: Path) -> str:
    conn = sqlite3.connect(path)
    conn.execute(
        'CREATE TABLE orders (id INTEGER, "Note Text" TEXT, amount REAL, '
        "updated_at INTEGER, deleted INTEGER)"
    )
    conn.executemany(
        "INSERT INTO orders VALUES (?, ?, ?, ?, ?)",
        [(i, f"n{i} ☕", i * 1.5, 100 + i, 0) for i in range(1, 8)],
    )
    conn.commit()
    conn.close()
    return f"sqlite:///{path}"


def contract(url: str, **source: Any) -> Contract:
    return Contract.model_validate(
        {
            "name": "test.sqlite_orders",
            "source": {
                "kind": "sql",
                "url": url,
                "table": "orders",
                "key": ["id"],
                "watermark": "updated_at",
                "lag": 2,
                "soft_delete": "deleted",
                **source,
            },
            "fields": [
                {"name": "id", "type": "long", "required": True},
                {"name": "note", "type": "string", "path": "Note Text"},
                {"name": "updated_at", "type": "long", "required": True},
                {"name": "ts", "type": "timestamp", "required": True, "path": "@source_ts"},
                {"name": "deleted", "type": "boolean", "path": "_deleted"},
            ],
            "keys": ["id", "updated_at"],
            "event_time": "ts",
        }
    )


def read_all(
    c: Contract, resume: dict[str, Position] | None = None
) -> tuple[list[dict[str, Any]], SqlSource]:
    settings = load_settings()
    source = SqlSource(SourceContext(settings, c, "g", lambda streams: dict(resume or {})))
    rows: list[dict[str, Any]] = []
    while True:
        batch = source.poll(3, 0.01)
        if not len(batch):
            break
        assert batch.records is not None and batch.record_payloads is not None
        assert batch.records.height == len(batch)  # typed records, one per seq
        rows += [json.loads(p) for p in batch.record_payloads.to_list()]  # bronze's payloads
        source.last_batch = batch  # type: ignore[attr-defined]
    return rows, source


def test_sqlite_incremental_with_lag_and_soft_deletes(tmp_path: Path) -> None:
    url = make_db(tmp_path / "shop.db")
    c = contract(url)
    rows, source = read_all(c)
    assert [r["id"] for r in rows] == [1, 2, 3, 4, 5, 6, 7]
    assert rows[0]["Note Text"] == "n1 ☕" and rows[0]["_deleted"] is False
    cursor = source.last_batch.cursors[source.stream]  # type: ignore[attr-defined]
    assert json.loads(cursor) == {"wm": 107, "key": [7]}
    assert source.next == 7 and source.drained()
    source.close()

    conn = sqlite3.connect(tmp_path / "shop.db")
    conn.execute("UPDATE orders SET deleted = 1, updated_at = 200 WHERE id = 2")
    conn.execute("INSERT INTO orders VALUES (8, 'late', 1.0, 106, 0)")  # within lag 2
    conn.commit()
    conn.close()
    again, source = read_all(c, {source.stream: Position(7, cursor)})
    # watermark >= 107 - 2: the lag window (5, 6, 7), the late row (8), the update (2)
    order = [(r["id"], r["updated_at"]) for r in again]  # by (watermark, key)
    assert order == [(5, 105), (6, 106), (8, 106), (7, 107), (2, 200)]
    assert [r["_deleted"] for r in again if r["id"] == 2] == [True]
    assert source.next == 7 + len(again)
    source.close()


def test_sqlite_full_mode_resumes_after_the_last_key(tmp_path: Path) -> None:
    url = make_db(tmp_path / "shop.db")
    c = contract(url, mode="full", watermark=None)
    rows, source = read_all(c, {"x": Position(0)})
    assert len(rows) == 7
    assert json.loads(source.last_batch.cursors[source.stream]) == {"done": True}  # type: ignore[attr-defined]
    stream = source.stream
    source.close()
    rest, source = read_all(c, {stream: Position(3, json.dumps({"after": [3]}))})
    assert [r["id"] for r in rest] == [4, 5, 6, 7]
    source.close()


def test_soft_delete_needs_a_field_reading_it(tmp_path: Path) -> None:
    url = make_db(tmp_path / "shop.db")
    data = contract(url).model_dump(mode="json")
    data["source"] = {**contract(url).source.model_dump(mode="json"), "url": url}
    data["fields"] = [f for f in data["fields"] if f["name"] != "deleted"]
    c = Contract.model_validate(data)
    with pytest.raises(ContractError, match=r"no field of test\.sqlite_orders reads _deleted"):
        SqlSource(SourceContext(load_settings(), c, "g", lambda s: {}))


def test_a_continuous_run_does_not_deliver_the_lag_window_twice(tmp_path: Path) -> None:
    url = make_db(tmp_path / "shop.db")
    c = contract(url, poll_interval_s=0.01, lag=3)
    source = SqlSource(SourceContext(load_settings(), c, "g", lambda streams: {}))
    try:
        first = source.poll(100, 0.01)
        assert len(first) == 7 and source.drained()
        conn = sqlite3.connect(tmp_path / "shop.db")
        conn.execute("INSERT INTO orders VALUES (9, 'new', 1.0, 108, 0)")
        conn.execute("INSERT INTO orders VALUES (8, 'late', 1.0, 106, 0)")  # within lag 3
        conn.commit()
        conn.close()
        assert not source.drained()  # a newer watermark exists: query again
        again = source.poll(100, 0.01)
        # the window (watermark >= 104) is read again; only the two new rows are delivered
        assert again.record_payloads is not None
        assert sorted(json.loads(p)["id"] for p in again.record_payloads.to_list()) == [8, 9]
        assert again.seq_column().to_list() == [7, 8]
        assert all(top >= 104 for top, _ in source._seen)  # the memory is the window only
    finally:
        source.close()
