"""Delta Lake tables (delta-rs): exactly-once appends with positions as app transactions."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import duckdb_ext  # type: ignore[import-untyped]  # namespace package, no py.typed
import polars as pl
import pyarrow as pa
import pytest

from lakesmith.config import Settings, load_settings
from lakesmith.core.columns import SEQ, STREAM, Column
from lakesmith.core.positions import Position
from lakesmith.stores.lake import CompactOptions, open_table
from lakesmith.stores.lake.delta import DeltaTable, sql_predicate

COLUMNS = [
    Column(STREAM, "string"),
    Column(SEQ, "long"),
    Column("ts", "timestamp"),
    Column("value", "double"),
    Column("tags", "list<string>"),
]
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _rows(stream: str, seqs: range | list[int], day: int = 0) -> pa.Table:
    seqs = list(seqs)
    return pa.table(
        {
            STREAM: pa.array([stream] * len(seqs), pa.string()),
            SEQ: pa.array(seqs, pa.int64()),
            "ts": pa.array(
                [T0 + timedelta(days=day, minutes=s) for s in seqs], pa.timestamp("us", "UTC")
            ),
            "value": pa.array([float(s) for s in seqs], pa.float64()),
            "tags": pa.array([["a", str(s)] for s in seqs], pa.list_(pa.string())),
            "not_in_table": pa.array([1] * len(seqs), pa.int8()),  # dropped on write
        }
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(state_dir=tmp_path)


@pytest.fixture
def table(settings: Settings) -> DeltaTable:
    t = DeltaTable(settings, "bronze", "events")
    t.ensure(COLUMNS, [("ts", "day")], sort_by=[SEQ], properties={"lakesmith.schema_version": "1"})
    return t


def _duckdb_count(path: str) -> int:
    ext = Path(next(iter(duckdb_ext.__path__))) / "extensions"
    con = duckdb.connect(
        config={"extension_directory": str(ext), "autoinstall_known_extensions": False}
    )
    try:
        con.execute("LOAD delta")
        row = con.execute(f"SELECT count(*) FROM delta_scan('{path}')").fetchone()
        assert row is not None
        return int(row[0])
    finally:
        con.close()


def test_ensure_is_idempotent_and_keeps_layout(settings: Settings) -> None:
    t = open_table(settings, "delta", "bronze", "events")
    assert isinstance(t, DeltaTable)
    assert not t.exists()
    assert t.positions(["s"]) == {}
    t.ensure(COLUMNS, [("ts", "day"), (STREAM, "identity")], properties={"lakesmith.x": "1"})
    t.ensure(COLUMNS, [("ts", "day")], properties={"lakesmith.x": "2"})  # exists: no change
    other = DeltaTable(settings, "bronze", "events")
    other.ensure(COLUMNS)
    assert other.exists()
    assert other.format == "delta" and other.label == "bronze.events"
    assert other.location == f"{settings.effective_warehouse()}/bronze/events"
    assert other.properties()["lakesmith.x"] == "1"
    assert other.column_names() == [c.name for c in COLUMNS]  # ts_day is hidden
    assert other.day_counts("ts") == {}
    with pytest.raises(Exception, match="cannot partition"):
        DeltaTable(settings, "bronze", "bad").ensure(COLUMNS, [("value", "day")])


def test_racing_creators_share_one_table(settings: Settings) -> None:
    errors: list[BaseException] = []

    def create() -> None:
        try:
            DeltaTable(settings, "bronze", "raced").ensure(COLUMNS, [("ts", "day")])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert DeltaTable(settings, "bronze", "raced").column_names()[0] == STREAM


def test_append_is_exactly_once(table: DeltaTable) -> None:
    batch = pa.concat_tables([_rows("p0", range(10)), _rows("p1", range(5))])
    pos = {"p0": Position(10), "p1": Position(5)}
    assert table.append(batch, pos) == 15
    assert table.positions(["p0", "p1", "p2"]) == pos
    assert table.append(batch, pos) == 0  # a replay writes nothing
    # partly committed: p0 is at 10, the batch covers 5..15 → rows 10..14 only
    assert table.append(_rows("p0", range(5, 15)), {"p0": Position(15)}) == 5
    frame = table.scan()
    assert frame.height == 20
    assert frame.filter(pl.col(STREAM) == "p0")[SEQ].sort().to_list() == list(range(15))
    assert "not_in_table" not in frame.columns and "ts_day" not in frame.columns
    assert frame["tags"][0].to_list()[0] == "a"
    # a fresh instance (no cache) reads the same positions
    fresh = DeltaTable(table.settings, table.namespace, table.name)
    assert fresh.positions(["p0", "p1"]) == {"p0": Position(15), "p1": Position(5)}
    # a batch behind one stream but ahead of another only moves the one ahead
    assert table.append(_rows("p1", range(5, 7)), {"p0": Position(3), "p1": Position(7)}) == 2
    assert table.positions(["p0", "p1"]) == {"p0": Position(15), "p1": Position(7)}


def test_cursors_round_trip(table: DeltaTable) -> None:
    assert table.append(_rows("api", range(3)), {"api": Position(3, "page-2")}) == 3
    assert table.append(_rows("k", range(2)), {"k": Position(2)}) == 2
    for _ in range(3):  # more commits on top, so the cursor is not in the newest one
        table.append(_rows("x", []), {})
    fresh = DeltaTable(table.settings, table.namespace, table.name)
    assert fresh.positions(["api", "k"]) == {"api": Position(3, "page-2"), "k": Position(2)}
    assert table.append(_rows("api", range(3, 5)), {"api": Position(5, "page-3")}) == 2
    fresh = DeltaTable(table.settings, table.namespace, table.name)
    assert fresh.positions(["api"]) == {"api": Position(5, "page-3")}


def test_empty_positions_append_keeps_positions(table: DeltaTable) -> None:
    table.append(_rows("p0", range(4)), {"p0": Position(4)})
    assert table.append(_rows("p0", range(2)), {}) == 2  # maintenance: rows as they are
    assert table.positions(["p0"]) == {"p0": Position(4)}
    assert table.scan().height == 6
    # positions without rows (a source that skipped records) still advance
    assert table.append(_rows("p0", []), {"p0": Position(9)}) == 0
    assert table.positions(["p0"]) == {"p0": Position(9)}


def test_conforms_types_and_missing_columns(table: DeltaTable) -> None:
    data = pa.table(
        {
            STREAM: pa.array(["p0", "p0"], pa.large_string()),
            SEQ: pa.array([0, 1], pa.int32()),
            "ts": pa.array([datetime(2025, 1, 2, 3), datetime(2025, 1, 2, 4)], pa.timestamp("ns")),
        }
    )
    assert table.append(data, {"p0": Position(2)}) == 2
    frame = table.scan()
    assert frame["value"].null_count() == 2
    assert frame["ts"].dtype == pl.Datetime("us", "UTC")
    assert table.day_counts("ts") == {date(2025, 1, 2): 2}


def test_concurrent_writers_commit_each_batch_once(settings: Settings) -> None:
    DeltaTable(settings, "bronze", "busy").ensure(COLUMNS)
    batches = [
        (_rows("p0", range(i * 5, i * 5 + 5)), {"p0": Position(i * 5 + 5)}) for i in range(6)
    ]
    written: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        t = DeltaTable(settings, "bronze", "busy")  # its own instance, like a worker process
        try:
            for data, pos in batches:
                written.append(t.append(data, pos))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert sum(written) == 30
    t = DeltaTable(settings, "bronze", "busy")
    assert t.positions(["p0"]) == {"p0": Position(30)}
    assert sorted(t.scan()[SEQ].to_list()) == list(range(30))


def test_add_columns_mid_stream(table: DeltaTable) -> None:
    table.append(_rows("p0", range(3)), {"p0": Position(3)})
    added = table.add_columns(
        [Column("value", "double"), Column("extra", "string"), Column("n", "int")],
        properties={"lakesmith.schema_version": "2"},
    )
    assert added == ["extra", "n"]
    assert table.add_columns([Column("extra", "string")]) == []
    assert table.properties()["lakesmith.schema_version"] == "2"
    assert table.column_names()[-2:] == ["extra", "n"]
    new = _rows("p0", range(3, 5)).append_column("extra", pa.array(["x", "y"]))
    assert table.append(new, {"p0": Position(5)}) == 2
    frame = table.scan([SEQ, "extra", "n"]).sort(SEQ)
    assert frame["extra"].to_list() == [None, None, None, "x", "y"]
    assert frame["n"].null_count() == 5
    assert table.positions(["p0"]) == {"p0": Position(5)}
    pieces = list(table.batches([SEQ, "extra"], where=[(SEQ, ">=", 1)]))
    assert sum(p.num_rows for p in pieces) == 4
    assert all(p.column_names == [SEQ, "extra"] for p in pieces)


def test_delete_keeps_positions(table: DeltaTable) -> None:
    table.append(_rows("p0", range(10)), {"p0": Position(10, "c")})
    table.append(_rows("p1", range(10), day=1), {"p1": Position(10)})
    table.delete([(STREAM, "==", "p0"), (SEQ, "<", 5)])
    table.delete([("ts", ">=", datetime(2025, 1, 2)), (STREAM, "in", ["p1", "zz"])])
    assert table.scan()[SEQ].sort().to_list() == list(range(5, 10))
    assert table.positions(["p0", "p1"]) == {"p0": Position(10, "c"), "p1": Position(10)}
    assert table.day_counts("ts") == {date(2025, 1, 1): 5}
    assert table.day_counts(SEQ) is None


def test_scan_filters(table: DeltaTable) -> None:
    table.append(_rows("p0", range(10)), {"p0": Position(10)})
    table.append(_rows("p1", range(10), day=1), {"p1": Position(10)})
    day2 = datetime(2025, 1, 2, tzinfo=UTC)
    assert table.scan(where=[("ts", ">=", day2)]).height == 10
    assert table.scan(where=[("ts", "<", day2), (SEQ, ">=", 8)]).height == 2
    assert table.scan([SEQ], where=[(STREAM, "in", ["p1"])]).columns == [SEQ]
    assert table.scan(where=[(STREAM, "in", [])]).height == 0
    assert table.scan(where=[("ts", ">=", date(2025, 1, 2))]).height == 10  # a day: UTC
    assert table.scan(where=[("ts", "<", datetime(2025, 1, 2))]).height == 10  # naive: UTC
    assert table.day_counts("ts") == {date(2025, 1, 1): 10, date(2025, 1, 2): 10}
    assert sum(p.num_rows for p in table.batches(where=[(STREAM, "==", "p1")])) == 10


def test_sql_predicate() -> None:
    assert sql_predicate([]) is None
    assert (
        sql_predicate([("a", "==", "it's"), ("b", ">=", 3), ("c", "in", [1, 2])])
        == '"a" = \'it\'\'s\' AND "b" >= 3 AND "c" IN (1, 2)'
    )
    assert (
        sql_predicate([("t", "<", datetime(2025, 1, 1))]) == "\"t\" < '2025-01-01T00:00:00+00:00'"
    )
    assert sql_predicate([("x", "==", None)]) == '"x" IS NULL'


def test_compact_keeps_rows_and_positions(table: DeltaTable) -> None:
    for i in range(6):
        table.append(_rows("p0", range(i * 4, i * 4 + 4), day=i % 2), {"p0": Position(i * 4 + 4)})
    table.append(_rows("api", range(2)), {"api": Position(2, "tok")})
    plan = table.compact(CompactOptions(min_files=3, dry_run=True))
    assert plan.partitions_rewritten == 2 and plan.files_before == 7
    assert plan.files_after == 2 and plan.rows_after == 26
    progress: list[str] = []
    rep = table.compact(
        CompactOptions(min_files=3, expire_older_than=timedelta(0)), progress.append
    )
    assert len(progress) == 2
    assert (rep.files_before, rep.files_after) == (7, 2)
    assert rep.rows_before == rep.rows_after == 26
    assert rep.files_deleted == 7 and rep.partitions_rewritten == 2
    assert table.scan().height == 26
    assert table.positions(["p0", "api"]) == {"p0": Position(24), "api": Position(2, "tok")}
    fresh = DeltaTable(table.settings, table.namespace, table.name)
    assert fresh.positions(["p0", "api"]) == {"p0": Position(24), "api": Position(2, "tok")}
    assert fresh.append(_rows("p0", range(20, 28)), {"p0": Position(28)}) == 4  # still deduped
    assert table.compact(CompactOptions(min_files=3)).partitions_rewritten == 0


def test_compact_dedupe(settings: Settings) -> None:
    t = DeltaTable(settings, "silver", "s")
    t.ensure([*COLUMNS, Column("_ingested_at", "timestamp"), Column("_record_id", "string")])
    for i in range(4):  # every batch repeats natural key "value" 0.0
        data = _rows("p0", [i * 10, i * 10 + 1])
        data = data.set_column(
            data.schema.get_field_index("value"), "value", pa.array([0.0, i + 1.0])
        )
        data = data.append_column(
            "_ingested_at", pa.array([T0 + timedelta(i)] * 2, pa.timestamp("us", "UTC"))
        )
        data = data.append_column("_record_id", pa.array([f"r{i}a", f"r{i}b"]))
        t.append(data, {"p0": Position(i * 10 + 2)})
    rep = t.compact(CompactOptions(min_files=2, dedupe_keys=["value"]))
    assert rep.duplicates_removed == 3
    frame = t.scan()
    assert frame.height == 5
    assert frame.filter(pl.col("value") == 0.0)["_record_id"].to_list() == ["r0a"]
    assert t.positions(["p0"]) == {"p0": Position(32)}


def test_readable_by_polars_and_duckdb(table: DeltaTable) -> None:
    table.append(_rows("p0", range(7)), {"p0": Position(7)})
    table.add_columns([Column("extra", "string")])
    table.append(_rows("p0", range(7, 9)), {"p0": Position(9)})
    path = table.location.removeprefix("file://")
    assert pl.read_delta(table.location).height == 9
    assert pl.read_delta(path).height == 9
    assert _duckdb_count(path) == 9


def test_compact_retries_when_a_writer_appends_meanwhile(
    table: DeltaTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dedupe rewrite conflicts with rows appended to its partition after it read it
    ("concurrent transactions added new data"): it re-reads and keeps them."""
    import deltalake

    from lakesmith.stores.lake import delta_compact

    for i in range(3):
        table.append(_rows("p0", range(i * 2, i * 2 + 2)), {"p0": Position(i * 2 + 2)})
    writer = DeltaTable(table.settings, table.namespace, table.name)
    real = deltalake.write_deltalake
    calls: list[str] = []

    def racing_write(*args: Any, **kwargs: Any) -> None:
        if kwargs.get("mode") == "overwrite" and not calls:
            calls.append("raced")
            assert writer.append(_rows("p0", range(6, 9)), {"p0": Position(9)}) == 3
        real(*args, **kwargs)

    monkeypatch.setattr(delta_compact, "write_deltalake", racing_write)
    rep = table.compact(CompactOptions(min_files=2, dedupe_keys=["value"]))
    assert calls == ["raced"] and rep.conflicts == 1 and rep.partitions_rewritten == 1
    assert sorted(table.scan()[SEQ].to_list()) == list(range(9))
    assert table.positions(["p0"]) == {"p0": Position(9)}


@pytest.mark.integration
def test_delta_on_s3(stack_settings: Settings) -> None:
    from lakesmith.stores.objects import ensure_bucket, s3_client

    settings = stack_settings.model_copy(
        update={"lake": stack_settings.lake.model_copy(update={"warehouse": "s3://lake-test/wh"})}
    )
    ensure_bucket(s3_client(settings), "lake-test")
    t = DeltaTable(settings, "bronze", "s3events")
    assert t.location == "s3://lake-test/wh/bronze/s3events"
    assert t.storage_options is not None and t.storage_options["AWS_ALLOW_HTTP"] == "true"
    t.ensure(COLUMNS, [("ts", "day")], properties={"lakesmith.schema_version": "1"})
    DeltaTable(settings, "bronze", "s3events").ensure(COLUMNS)
    for i in range(4):
        pos = {"p0": Position(i * 3 + 3, f"c{i}")}
        assert t.append(_rows("p0", range(i * 3, i * 3 + 3), day=i % 2), pos) == 3
    assert t.append(_rows("p0", range(12)), {"p0": Position(12, "c3")}) == 0
    assert t.add_columns([Column("extra", "string")]) == ["extra"]
    rep = t.compact(CompactOptions(min_files=2, expire_older_than=timedelta(0)))
    assert (rep.files_before, rep.files_after, rep.rows_after) == (4, 2, 12)
    assert rep.files_deleted == 4
    fresh = DeltaTable(settings, "bronze", "s3events")
    assert fresh.positions(["p0"]) == {"p0": Position(12, "c3")}
    assert fresh.scan()["extra"].null_count() == 12
    assert sum(p.num_rows for p in fresh.batches(where=[(SEQ, ">=", 6)])) == 6
    assert fresh.day_counts("ts") == {date(2025, 1, 1): 6, date(2025, 1, 2): 6}
    frame = pl.read_delta(t.location, storage_options=t.storage_options)
    assert frame.height == 12
    # a warehouse bucket nobody created yet: ensure creates it
    auto = settings.model_copy(
        update={"lake": settings.lake.model_copy(update={"warehouse": "s3://lake-test-auto/w"})}
    )
    t2 = DeltaTable(auto, "silver", "t")
    t2.ensure(COLUMNS)
    assert t2.append(_rows("p0", range(2)), {"p0": Position(2)}) == 2


def test_compaction_carries_cursors_past_log_cleanup(settings: Settings) -> None:
    """Log files expire (``delta.logRetentionDuration``); app transactions live on in the
    checkpoint, and compaction commits repeat the cursors so they do too."""
    t = DeltaTable(settings, "bronze", "short_log")
    t.ensure(COLUMNS, properties={"delta.logRetentionDuration": "interval 0 seconds"})
    for i in range(3):
        t.append(_rows("api", range(i * 2, i * 2 + 2)), {"api": Position(i * 2 + 2, f"p{i}")})
    t.append(_rows("k", range(3)), {"k": Position(3)})
    rep = t.compact(CompactOptions(min_files=2, expire_older_than=timedelta(0)))
    assert rep.files_after == 1
    dt = t.refresh()
    dt.create_checkpoint()
    dt.cleanup_metadata()  # every commit before the checkpoint is gone
    assert [h["operation"] for h in dt.history()] == ["VACUUM END"]
    fresh = DeltaTable(settings, "bronze", "short_log")
    assert fresh.positions(["api", "k"]) == {"api": Position(6, "p2"), "k": Position(3)}
