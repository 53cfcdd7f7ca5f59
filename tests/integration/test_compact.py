"""STO-2: compaction of real Iceberg tables on disk (SQLite catalog, file warehouse)."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
import yaml
from pyiceberg.table.snapshots import Snapshot
from typer.testing import CliRunner

from lakesmith.bronze.envelope import BRONZE_COLUMNS
from lakesmith.config import Settings, load_settings
from lakesmith.contracts import load_contract
from lakesmith.contracts.loader import DOMAINS_DIR
from lakesmith.contracts.model import Contract
from lakesmith.pipeline.compact import (
    TABLES,
    CompactionError,
    CompactOptions,
    Compactor,
    PartitionPlan,
    TableReport,
    compact,
)
from lakesmith.pipeline.worker import lake_tables
from lakesmith.silver.tables import QUARANTINE_COLUMNS, partitioning, silver_columns
from lakesmith.stores.iceberg import POSITIONS_KEY, SCHEMA_VERSION_PROP, LakeTable

pytestmark = pytest.mark.integration

TOPIC = "iot.telemetry"
DAY0 = datetime(2024, 5, 1, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(state_dir=tmp_path / "state")


@pytest.fixture
def contract(tmp_path: Path) -> Contract:
    data = yaml.safe_load((DOMAINS_DIR / "iot" / "telemetry.yaml").read_text())
    data["name"] = f"iot.compact_{uuid.uuid4().hex[:10]}"
    path = tmp_path / "contract.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_contract(str(path))


def make_tables(settings: Settings, contract: Contract) -> dict[str, LakeTable]:
    lake = lake_tables(settings, contract)
    lake["bronze"].ensure(BRONZE_COLUMNS, [("_ingested_at", "day")])
    lake["quarantine"].ensure(QUARANTINE_COLUMNS, [("_quarantined_at", "day")])
    lake["silver"].ensure(
        silver_columns(contract, 1),
        partitioning(contract),
        contract.lake.sort_by,
        {SCHEMA_VERSION_PROP: "1"},
    )
    return lake


def silver_batch(
    offsets: range, day: int, ingested: datetime, key_offset: int = 0, part: int = 0
) -> pa.Table:
    """Silver rows (plus ``_partition``/``_offset``) of one Kafka partition and event day."""
    devices = 7
    n = len(offsets)
    ts = [DAY0 + timedelta(days=day, seconds=(o + key_offset) * 7 % 86_000) for o in offsets]
    str_ = pa.string()
    return pa.table(
        {
            "device_id": pa.array([f"dev-{(o * 31) % devices:03d}" for o in offsets], str_),
            "timestamp": pa.array(ts, TS),
            "temperature": pa.array([20.0 + o % 10 for o in offsets], pa.float64()),
            "humidity": pa.array([50.0] * n, pa.float64()),
            "firmware_version": pa.array(["v1.2.0"] * n, str_),
            "_record_id": pa.array([f"k:abc:{part}:{o}" for o in offsets], str_),
            "_source": pa.array([f"kafka://{TOPIC}/{part}/{o}" for o in offsets], str_),
            "_ingested_at": pa.array([ingested] * n, TS),
            "_batch_id": pa.array([f"b{offsets.start}"] * n, str_),
            "_schema_version": pa.array([1] * n, pa.int32()),
            "_partition": pa.array([part] * n, pa.int32()),
            "_offset": pa.array(list(offsets), pa.int64()),
        }
    )


def bronze_batch(offsets: range, ingested: datetime) -> pa.Table:
    n = len(offsets)
    return pa.table(
        {
            "_record_id": [f"k:abc:0:{o}" for o in offsets],
            "_source": [f"kafka://{TOPIC}/0/{o}" for o in offsets],
            "_topic": [TOPIC] * n,
            "_partition": pa.array([0] * n, pa.int32()),
            "_offset": pa.array(list(offsets), pa.int64()),
            "_key": [f"dev-{o % 7}" for o in offsets],
            "_payload": pa.array([b'{"x": %d}' % o for o in offsets], pa.binary()),
            "_source_ts": pa.array([ingested] * n, TS),
            "_ingested_at": pa.array([ingested] * n, TS),
            "_batch_id": [f"b{offsets.start}"] * n,
            "_schema_version": pa.array([1] * n, pa.int32()),
        }
    )


def quarantine_batch(offsets: range, at: datetime) -> pa.Table:
    n, str_, strs = len(offsets), pa.string(), pa.list_(pa.string())
    return pa.table(
        {
            "_record_id": pa.array([f"k:abc:0:{o}" for o in offsets], str_),
            "_partition": pa.array([0] * n, pa.int32()),
            "_offset": pa.array(list(offsets), pa.int64()),
            "_payload": pa.array([b"{bad" for _ in offsets], pa.binary()),
            "_rule_ids": pa.array([["temperature_range"] for _ in offsets], strs),
            "_messages": pa.array([["too hot", "really"] for _ in offsets], strs),
            "_quarantined_at": pa.array([at] * n, TS),
        }
    )


def load(lake: dict[str, LakeTable], batches: int = 20, rows: int = 50, days: int = 3) -> int:
    """``batches`` appends spread over ``days`` event days; returns the next offset.

    Quarantine gets 3 rows from every other batch and a positions-only snapshot otherwise.
    """
    offset = 0
    for i in range(batches):
        day = i % days
        ingested = DAY0 + timedelta(days=day, hours=1, seconds=i)
        offs = range(offset, offset + rows)
        lake["silver"].append(silver_batch(offs, day, ingested), TOPIC, {0: offset + rows})
        lake["bronze"].append(bronze_batch(offs, ingested), TOPIC, {0: offset + rows})
        bad = quarantine_batch(range(offset, offset + (3 if i % 2 == 0 else 0)), ingested)
        lake["quarantine"].append(bad, TOPIC, {0: offset + rows})
        offset += rows
    return offset


def frame(lt: LakeTable, snapshot_id: int | None = None) -> pa.Table:
    t = lt.refresh()
    data = t.scan(snapshot_id=snapshot_id).to_arrow()
    return data.sort_by([("_record_id", "ascending")])


def files_per_partition(lt: LakeTable) -> dict[str, int]:
    t = lt.refresh()
    files = t.inspect.files()
    counts: dict[str, int] = {}
    for part in files.column("partition").to_pylist():
        k = repr(sorted(part.items()))
        counts[k] = counts.get(k, 0) + 1
    return counts


def current(lt: LakeTable) -> Snapshot:
    snap = lt.refresh().current_snapshot()
    assert snap is not None
    return snap


def positions_raw(snap: Snapshot) -> str | None:
    return snap.summary[POSITIONS_KEY] if snap.summary is not None else None


def run(settings: Settings, contract: Contract, **kw: Any) -> dict[str, TableReport]:
    return {r.table: r for r in compact(settings, contract, CompactOptions(**kw))}


def test_compaction_keeps_rows_positions_and_history(
    settings: Settings, contract: Contract
) -> None:
    lake = make_tables(settings, contract)
    end = load(lake)
    before = {t: frame(lake[t]) for t in TABLES}
    snap_before = {t: current(lake[t]) for t in TABLES}
    assert all(n == 7 or n == 6 for n in files_per_partition(lake["silver"]).values())

    reports = run(settings, contract)

    for t in ("silver", "bronze"):
        r = reports[t]
        assert (r.partitions_rewritten, r.files_before, r.files_after) == (3, 20, 3)
        assert r.rows_before == r.rows_after == 1000
        assert r.duplicates_removed == 0 and r.snapshots_expired == 0
        assert set(files_per_partition(lake[t]).values()) == {1}
        assert frame(lake[t]).equals(before[t])
        assert lake[t].positions(TOPIC) == {0: end}
        assert positions_raw(current(lake[t])) == positions_raw(snap_before[t]) is not None
        # time travel to the snapshot before compaction still works
        assert frame(lake[t], snap_before[t].snapshot_id).equals(before[t])
    # quarantine: 10 files over 3 days (4/3/3), so only the day with 4 files is rewritten
    q = reports["quarantine"]
    assert (q.partitions_rewritten, q.files_before, q.files_after, q.rows_after) == (1, 10, 7, 30)
    assert frame(lake["quarantine"]).equals(before["quarantine"])
    assert lake["quarantine"].positions(TOPIC) == {0: end}

    # the compacted silver files are sorted by the contract's sort order
    for f in lake["silver"].refresh().inspect.files().column("file_path").to_pylist():
        got = pq.read_table(f.removeprefix("file://"), columns=["device_id", "timestamp"])
        assert got.equals(got.sort_by([("device_id", "ascending"), ("timestamp", "ascending")]))

    # a second compaction is a no-op: no rewrite, no new snapshot
    head = current(lake["silver"])
    again = run(settings, contract)
    assert all(r.partitions_rewritten == 0 for r in again.values())
    assert current(lake["silver"]) == head

    # expire everything but the current snapshot; old files are deleted, data intact
    n_snaps = len(lake["silver"].refresh().snapshots())
    warehouse = settings.state_dir / "warehouse"
    parquet_before = len(list(warehouse.rglob("*.parquet")))
    expired = run(settings, contract, expire_older_than=timedelta(0), retain_last=1)
    assert expired["silver"].snapshots_expired == n_snaps - 1 == 22
    assert len(lake["silver"].refresh().snapshots()) == 1
    assert expired["silver"].files_deleted > 0
    assert len(list(warehouse.rglob("*.parquet"))) == parquet_before - 20 - 20 - 4
    with pytest.raises(ValueError):
        lake["silver"].table.scan(snapshot_id=snap_before["silver"].snapshot_id).to_arrow()
    for t in TABLES:
        assert frame(lake[t]).equals(before[t])
        assert lake[t].positions(TOPIC) == {0: end}


def test_retain_last_keeps_history(settings: Settings, contract: Contract) -> None:
    lake = make_tables(settings, contract)
    load(lake, batches=8)
    opts = {"min_files": 2, "expire_older_than": timedelta(0), "retain_last": 3}
    reports = run(settings, contract, tables=["silver"], **opts)
    # 8 appends + 3 rewrites = 11 snapshots; the 3 latest are kept
    assert set(reports) == {"silver"}
    assert reports["silver"].snapshots_expired == 8
    assert len(lake["silver"].refresh().snapshots()) == 3


@pytest.mark.parametrize("hook_rows", [40, 0])
def test_concurrent_append_loses_no_rows(
    settings: Settings, contract: Contract, hook_rows: int
) -> None:
    """A worker commit between read and commit (rows, or a positions-only snapshot)."""
    lake = make_tables(settings, contract)
    end = load(lake, batches=12, days=2)
    worker = LakeTable(settings, "silver", contract.table_name)  # a second process's handle
    appended: list[int] = []

    def hook(plan: PartitionPlan) -> None:
        if not appended and plan.table == "silver":
            offs = range(end, end + hook_rows)
            ingested = DAY0 + timedelta(hours=5)
            batch = silver_batch(offs, 0, ingested, key_offset=10_000)
            appended.append(worker.append(batch, TOPIC, {0: end + 100}))

    compactor = Compactor(settings, contract, CompactOptions(tables=["silver"]))
    compactor.before_commit = hook
    plan = compactor.plan("silver")
    report = compactor.execute(plan)

    assert appended == [hook_rows]
    assert report.partitions_rewritten == 2
    silver = frame(lake["silver"])
    assert silver.num_rows == 600 + hook_rows == report.rows_after
    assert len(set(silver.column("_record_id").to_pylist())) == silver.num_rows
    # the worker's positions survive the compaction commit
    assert lake["silver"].positions(TOPIC) == {0: end + 100}
    assert sorted(files_per_partition(lake["silver"]).values()) == ([1, 2] if hook_rows else [1, 1])


def test_compaction_while_a_worker_thread_appends(settings: Settings, contract: Contract) -> None:
    """Real concurrency: a thread commits to silver every ~0.25 s while compaction runs."""
    lake = make_tables(settings, contract)
    end = load(lake, batches=12, rows=500)
    stop = threading.Event()
    state = {"rows": 0, "next": end, "commits": 0}

    def worker() -> None:
        lt = LakeTable(settings, "silver", contract.table_name)
        i = 0
        while not stop.is_set():
            n = 100 if i % 3 else 0  # every third commit is positions-only
            offs = range(state["next"], state["next"] + n)
            batch = silver_batch(offs, i % 3, DAY0 + timedelta(hours=6), key_offset=10_000)
            state["rows"] += lt.append(batch, TOPIC, {0: state["next"] + n + 1})
            state["next"] += n + 1
            state["commits"] += 1
            i += 1
            time.sleep(0.25)  # a busy worker: ~3 commits per second to this table

    compactor = Compactor(settings, contract, CompactOptions(tables=["silver"]))
    # a slow first commit per partition, so that a worker commit lands between our refresh
    # and commit; the retries then go through (pyiceberg's own retries are off: they would
    # reuse stale positions, see stores/iceberg.py)
    slowed: set[str] = set()

    def slow_first_commit(plan: PartitionPlan) -> None:
        if plan.label not in slowed:
            slowed.add(plan.label)
            time.sleep(0.3)

    compactor.before_commit = slow_first_commit
    thread = threading.Thread(target=worker)
    thread.start()
    try:
        time.sleep(0.3)
        started = state["commits"]
        report = compactor.execute(compactor.plan("silver"))
        during = state["commits"] - started
    finally:
        stop.set()
        thread.join()
    assert report.partitions_rewritten == 3 and during >= 3
    silver = frame(lake["silver"])
    assert silver.num_rows == 6000 + state["rows"]
    assert len(set(silver.column("_record_id").to_pylist())) == silver.num_rows
    assert lake["silver"].positions(TOPIC) == {0: state["next"]}


def test_competing_compactor_wins_without_duplicates(
    settings: Settings, contract: Contract
) -> None:
    """Another compactor replaces our files first: ours is refused, nothing doubles."""
    lake = make_tables(settings, contract)
    load(lake, batches=8, days=1)
    before = frame(lake["silver"])
    ours = Compactor(settings, contract, CompactOptions(tables=["silver"]))
    other = Compactor(settings, contract, CompactOptions(tables=["silver"]))
    others: list[TableReport] = []

    def race(plan: PartitionPlan) -> None:
        if not others:
            others.append(other.execute(other.plan("silver")))

    ours.before_commit = race
    report = ours.execute(ours.plan("silver"))
    assert others[0].partitions_rewritten == 1
    assert report.conflicts == 1 and report.partitions_rewritten == 0
    assert report.files_after == 1
    assert frame(lake["silver"]).equals(before)
    # our rewritten file was removed again: only live files and the 8 originals remain
    data_dir = settings.state_dir / "warehouse" / "silver"
    assert len(list(data_dir.rglob("*.parquet"))) == 8 + 1


def test_dedupe_keeps_first_by_ingested_at(settings: Settings, contract: Contract) -> None:
    lake = make_tables(settings, contract)
    first = silver_batch(range(0, 10), 0, DAY0 + timedelta(hours=2))
    # Kafka partition 1 offset 0, ingested later but committed first, repeats row 5's key
    dup = silver_batch(range(0, 1), 0, DAY0 + timedelta(hours=3), part=1)
    dup = dup.set_column(0, "device_id", first.slice(5, 1).column("device_id"))
    dup = dup.set_column(1, "timestamp", first.slice(5, 1).column("timestamp"))
    lake["silver"].append(dup, TOPIC, {1: 1})
    lake["silver"].append(first, TOPIC, {0: 10})

    reports = run(settings, contract, tables=["silver"], min_files=2)

    assert reports["silver"].duplicates_removed == 1
    silver = frame(lake["silver"])
    assert silver.num_rows == 10
    ids = set(silver.column("_record_id").to_pylist())
    assert "k:abc:0:5" in ids and "k:abc:1:0" not in ids
    assert lake["silver"].positions(TOPIC) == {0: 10, 1: 1}


def test_dry_run_changes_nothing(settings: Settings, contract: Contract) -> None:
    lake = make_tables(settings, contract)
    load(lake, batches=12)
    current = lake["bronze"].refresh().current_snapshot()
    reports = run(settings, contract, dry_run=True, expire_older_than=timedelta(0))
    assert reports["bronze"].partitions_rewritten == 3
    assert reports["bronze"].files_after == 3 and reports["bronze"].snapshots_expired == 7
    assert lake["bronze"].refresh().current_snapshot() == current


def test_clear_errors(settings: Settings, contract: Contract) -> None:
    with pytest.raises(CompactionError, match="run `lakesmith run"):
        Compactor(settings, contract, CompactOptions())
    make_tables(settings, contract)
    with pytest.raises(CompactionError, match="unknown table"):
        Compactor(settings, contract, CompactOptions(tables=["gold"]))


def test_cli(
    settings: Settings, contract: Contract, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lakesmith.cli import common
    from lakesmith.cli.compact import compact as compact_command

    lake = make_tables(settings, contract)
    load(lake, batches=8)
    monkeypatch.setenv("LAKESMITH__STATE_DIR", str(settings.state_dir))
    app = typer.Typer()
    app.command("compact")(compact_command)
    app.command("noop")(lambda: None)  # a group, so the command name is an argument
    monkeypatch.setattr(common.console, "width", 160)
    path = str(tmp_path / "contract.yaml")
    runner = CliRunner()
    dry = runner.invoke(app, ["compact", path, "--dry-run", "--tables", "silver"])
    assert dry.exit_code == 0, dry.output
    assert "dry run" in dry.output and "silver" in dry.output
    args = ["--min-files", "2", "--retain-last", "1", "--expire-older-than", "0s"]
    res = runner.invoke(app, ["compact", path, *args])
    assert res.exit_code == 0, res.output
    assert "bronze" in res.output and "quarantine" in res.output
    assert set(files_per_partition(lake["silver"]).values()) == {1}
    bad = runner.invoke(app, ["compact", path, "--tables", "gold"])
    assert bad.exit_code == 2 and "choose from" in bad.output
