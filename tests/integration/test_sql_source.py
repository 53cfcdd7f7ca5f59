"""The ``sql`` source kind against a real PostgreSQL *source* database (its own database
on the test stack's server): full and incremental runs, changes between runs arriving
once, late commits within the safety lag, soft deletes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from lakesmith.config import Settings
from lakesmith.contracts import Contract
from lakesmith.contracts.loader import DOMAINS_DIR
from lakesmith.pipeline.worker import RunStats, Worker
from lakesmith.stores.sql_source_db import (
    change_orders,
    create_database,
    drop_database,
    execute,
    query,
    seed_orders,
)
from lakesmith.testing.pipeline import read_sinks, unique_contract

pytestmark = pytest.mark.integration
SHOP_ORDERS = DOMAINS_DIR / "shop" / "orders.yaml"


@pytest.fixture(scope="module")
def fast(stack_settings: Settings) -> Settings:
    worker = stack_settings.worker.model_copy(
        update={"idle_timeout_s": 0.3, "max_wait_s": 0.5, "batch_size": 100_000}
    )
    return stack_settings.model_copy(update={"worker": worker})


@pytest.fixture
def source_db(stack_settings: Settings) -> Iterator[tuple[str, str]]:
    """A fresh source database: (name, SQLAlchemy URL)."""
    name = f"sqlsrc_{uuid.uuid4().hex[:10]}"
    url = create_database(stack_settings, name)
    yield name, url
    drop_database(stack_settings, name)


def orders_contract(tmp_path: Path, db: str, **source: Any) -> Contract:
    spec = {
        "kind": "sql",
        "postgres_database": db,
        "table": "public.orders",
        "key": ["id"],
        "mode": "incremental",
        "watermark": "updated_at",
        "lag": "1m",
        "soft_delete": "deleted_at",
        **source,
    }
    contract, _ = unique_contract(tmp_path, str(SHOP_ORDERS), source=spec)
    return contract


def run_idle(settings: Settings, contract: Contract, **kw: Any) -> RunStats:
    worker = Worker(settings, contract)
    try:
        return worker.run(until_idle=True, **kw)
    finally:
        worker.close()


def latest(silver: pl.DataFrame) -> pl.DataFrame:
    """The current row per id: its latest version in silver."""
    return silver.sort("updated_at").group_by("id").last().sort("id")


def source_rows(url: str) -> pl.DataFrame:
    rows = query(
        url,
        "SELECT id, status, amount::float8, deleted_at IS NOT NULL FROM public.orders ORDER BY id",
    )
    return pl.DataFrame(
        rows, schema=["id", "status", "amount", "deleted"], orient="row"
    ).with_columns(pl.col("id").cast(pl.Int64))


def test_incremental_runs_read_each_change_once(
    fast: Settings, source_db: tuple[str, str], tmp_path: Path
) -> None:
    db, url = source_db
    seed_orders(url, 3000)
    contract = orders_contract(tmp_path, db)
    first = run_idle(fast, contract)
    assert first.records == 3000
    sinks = read_sinks(fast, contract)
    assert sinks.silver.height == 3000 and sinks.quarantine.height == 0
    stream = f"postgresql:///{db}/public.orders?wm=updated_at"
    assert sinks.bronze["_source"].str.starts_with(stream + "#").all()
    row = sinks.silver.filter(pl.col("id") == 3).row(0, named=True)
    assert row["amount"] == pytest.approx(237.57) and row["channel"] == "web"
    assert row["updated_at"].tzinfo is not None and row["deleted"] is False

    changed = change_orders(url, updates=100, inserts=200, deletes=20)
    second = run_idle(fast, contract)
    sinks = read_sinks(fast, contract)
    # every version once: 3000 first versions + 100 updated + 200 new + 20 tombstones
    assert sinks.silver.height == 3000 + sum(changed.values())
    assert sinks.silver.select("id", "updated_at").is_duplicated().sum() == 0
    # the lag window was read again (into bronze) and dropped by silver's dedupe
    assert second.by_disposition.get("duplicate", 0) == second.records - sum(changed.values())
    current = latest(sinks.silver).select("id", "status", "amount", "deleted")
    assert current.equals(source_rows(url))
    assert current["deleted"].sum() == 20

    third = run_idle(fast, contract)  # nothing changed: only the lag window, all duplicates
    assert third.by_disposition.get("valid", 0) == 0
    assert read_sinks(fast, contract).silver.height == 3000 + sum(changed.values())


def test_a_late_commit_within_the_lag_is_not_missed(
    fast: Settings, source_db: tuple[str, str], tmp_path: Path
) -> None:
    db, url = source_db
    seed_orders(url, 500)
    contract = orders_contract(tmp_path, db, lag="10m")
    run_idle(fast, contract)
    top = query(url, "SELECT max(updated_at) FROM public.orders")[0][0]
    # committed after the run, stamped before the highest watermark read: a long
    # transaction's row. 9 minutes back is inside the lag, 2 hours back is not.
    insert = (
        "INSERT INTO public.orders SELECT id + %s, customer, status, amount, quantity, "
        "created_at, %s, NULL, attrs FROM public.orders WHERE id = 1"
    )
    execute(url, insert, [10_000, top - timedelta(minutes=9)])
    execute(url, insert, [20_000, top - timedelta(hours=2)])
    second = run_idle(fast, contract)
    assert second.by_disposition.get("valid", 0) == 1
    ids = set(read_sinks(fast, contract).silver["id"].to_list())
    assert 10_001 in ids  # late, inside the lag: read
    assert 20_001 not in ids  # later than the lag allows: missed (docs/sql-source.md)


def test_full_mode_resumes_a_pass_and_starts_the_next(
    fast: Settings, source_db: tuple[str, str], tmp_path: Path
) -> None:
    db, url = source_db
    seed_orders(url, 2500)
    contract = orders_contract(tmp_path, db, mode="full", chunk_rows=1000)
    assert contract.source.uri.endswith("/public.orders?full")
    first = run_idle(fast, contract, max_batches=1)  # a pass cut after its first chunk
    assert first.records == 1000
    rest = run_idle(fast, contract)  # resumes after the last key committed
    assert rest.records == 1500
    sinks = read_sinks(fast, contract)
    assert sinks.bronze.height == 2500 and sinks.silver.height == 2500
    assert sinks.silver["id"].n_unique() == 2500
    change_orders(url, updates=10, inserts=0, deletes=0)
    again = run_idle(fast, contract)  # the pass was done: a new pass over the table
    assert again.records == 2500
    assert again.by_disposition.get("valid", 0) == 10  # the changed rows' new versions
    assert read_sinks(fast, contract).bronze["_seq"].max() == 4999  # seqs never restart


def test_a_lost_connection_resumes_without_gaps(
    stack_settings: Settings,
    source_db: tuple[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lakesmith.sources.base import SourceContext
    from lakesmith.sources.sql import SqlSource
    from lakesmith.stores.sql_reader import PostgresReader

    db, url = source_db
    # enough rows that the server is still sending (binary COPY streams the whole query
    # at once) when the connection is dropped, read in small Arrow batches
    rows, chunk = 200_000, 50_000
    seed_orders(url, rows)
    monkeypatch.setattr(PostgresReader, "batch_bytes", 64 << 10)
    contract = orders_contract(tmp_path, db, mode="full", chunk_rows=chunk)
    source = SqlSource(SourceContext(stack_settings, contract, "g", lambda streams: {}))
    ids: list[int] = []
    seqs: list[int] = []
    failures = 0
    try:
        while True:
            try:
                batch = source.poll(chunk, 0.01)
            except Exception as exc:  # the worker retries a poll that failed
                assert "terminat" in str(exc) or "closed" in str(exc).lower()
                failures += 1
                continue
            if not len(batch):
                break
            assert batch.records is not None
            ids += batch.records["id"].to_list()
            seqs += batch.seq_column().to_list()
            if len(ids) == chunk:  # the server drops the connection mid-read
                execute(
                    url,
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = 'lakesmith-sql' AND datname = current_database()",
                )
    finally:
        source.close()
    assert failures == 1
    assert ids == list(range(1, rows + 1))  # resumed after the last key delivered
    assert seqs == list(range(rows))
