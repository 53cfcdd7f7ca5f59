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
from pyiceberg.table import TableProperties
from pyiceberg.table.snapshots import Snapshot
from typer.testing import CliRunner

from lakesmith.config import Settings, load_settings
from lakesmith.contracts import load_contract
from lakesmith.contracts.loader import DOMAINS_DIR
from lakesmith.contracts.model import Contract
from lakesmith.core.columns import (
    BRONZE_COLUMNS,
    INGESTED_AT,
    QUARANTINE_COLUMNS,
    QUARANTINED_AT,
    RECORD_ID,
)
from lakesmith.core.positions import Position
from lakesmith.maintenance.compact import TABLES, CompactionError, compact
from lakesmith.pipeline.dataset import Dataset
from lakesmith.silver.tables import partitioning, silver_columns
from lakesmith.stores.lake import SCHEMA_VERSION_PROP, CompactOptions, CompactReport, open_table
from lakesmith.stores.lake.iceberg import POSITIONS_KEY, IcebergTable
from lakesmith.stores.lake.iceberg_compact import REWRITE_PROPERTIES, compact_table

pytestmark = pytest.mark.integration

TOPIC = "iot.telemetry"
DAY0 = datetime(2024, 5, 1, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")


def stream(part: int) -> str:
    """The stream of one Kafka partition of the topic."""
    return f"{TOPIC}/{part}"


S0, S1 = stream(0), stream(1)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # the lake alone (no PostgreSQL): commits race and retry, which these tests exercise
    return load_settings(state_dir=tmp_path / "state", lake={"commit_lock": "none"})


@pytest.fixture
def contract(tmp_path: Path) -> Contract:
    data = yaml.safe_load((DOMAINS_DIR / "iot" / "telemetry.yaml").read_text())
    data["name"] = f"iot.compact_{uuid.uuid4().hex[:10]}"
    path = tmp_path / "contract.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_contract(str(path))


def iceberg(settings: Settings, layer: str, contract: Contract) -> IcebergTable:
    """A separate handle on one of the dataset's tables (as another process would open)."""
    lt = open_table(settings, "iceberg", layer, contract.table_name)
    assert isinstance(lt, IcebergTable)
    return lt


def make_tables(settings: Settings, contract: Contract) -> dict[str, IcebergTable]:
    """The dataset's lake tables (no time-series table: no PostgreSQL needed)."""
    ds = Dataset(settings, contract)
    assert ds.format == "iceberg"
    ds.bronze.ensure(BRONZE_COLUMNS, [(INGESTED_AT, "day")])
    ds.quarantine.ensure(QUARANTINE_COLUMNS, [(QUARANTINED_AT, "day")])
    ds.silver.ensure(
        silver_columns(contract, 1),
        partitioning(contract),
        contract.lake.sort_by,
        {SCHEMA_VERSION_PROP: "1"},
    )
    lake = {}
    for layer, lt in ds.lake.items():
        assert isinstance(lt, IcebergTable)
        lake[layer] = lt
    return lake


def silver_batch(
    seqs: range, day: int, ingested: datetime, key_offset: int = 0, part: int = 0
) -> pa.Table:
    """Silver rows of one stream (Kafka partition ``part``) and event day."""
    devices = 7
    n = len(seqs)
    ts = [DAY0 + timedelta(days=day, seconds=(o + key_offset) * 7 % 86_000) for o in seqs]
    str_ = pa.string()
    return pa.table(
        {
            "device_id": pa.array([f"dev-{(o * 31) % devices:03d}" for o in seqs], str_),
            "timestamp": pa.array(ts, TS),
            "temperature": pa.array([20.0 + o % 10 for o in seqs], pa.float64()),
            "humidity": pa.array([50.0] * n, pa.float64()),
            "firmware_version": pa.array(["v1.2.0"] * n, str_),
            "_record_id": pa.array([f"k:abc:{part}:{o}" for o in seqs], str_),
            "_source": pa.array([f"kafka://{TOPIC}/{part}/{o}" for o in seqs], str_),
            "_stream": pa.array([stream(part)] * n, str_),
            "_seq": pa.array(list(seqs), pa.int64()),
            "_ingested_at": pa.array([ingested] * n, TS),
            "_batch_id": pa.array([f"b{seqs.start}"] * n, str_),
            "_schema_version": pa.array([1] * n, pa.int32()),
        }
    )


def bronze_batch(seqs: range, ingested: datetime) -> pa.Table:
    n = len(seqs)
    return pa.table(
        {
            "_record_id": [f"k:abc:0:{o}" for o in seqs],
            "_source": [f"kafka://{TOPIC}/0/{o}" for o in seqs],
            "_stream": [S0] * n,
            "_seq": pa.array(list(seqs), pa.int64()),
            "_key": [f"dev-{o % 7}" for o in seqs],
            "_payload": pa.array([b'{"x": %d}' % o for o in seqs], pa.binary()),
            "_source_ts": pa.array([ingested] * n, TS),
            "_ingested_at": pa.array([ingested] * n, TS),
            "_batch_id": [f"b{seqs.start}"] * n,
            "_schema_version": pa.array([1] * n, pa.int32()),
        }
    )


def quarantine_batch(seqs: range, at: datetime) -> pa.Table:
    n, str_, strs = len(seqs), pa.string(), pa.list_(pa.string())
    return pa.table(
        {
            "_record_id": pa.array([f"k:abc:0:{o}" for o in seqs], str_),
            "_source": pa.array([f"kafka://{TOPIC}/0/{o}" for o in seqs], str_),
            "_stream": pa.array([S0] * n, str_),
            "_seq": pa.array(list(seqs), pa.int64()),
            "_payload": pa.array([b"{bad" for _ in seqs], pa.binary()),
            "_rule_ids": pa.array([["temperature_range"] for _ in seqs], strs),
            "_messages": pa.array([["too hot", "really"] for _ in seqs], strs),
            "_quarantined_at": pa.array([at] * n, TS),
        }
    )


def load(lake: dict[str, IcebergTable], batches: int = 20, rows: int = 50, days: int = 3) -> int:
    """``batches`` appends of stream S0 spread over ``days`` event days; returns the next seq.

    Quarantine gets 3 rows from every other batch and a positions-only snapshot otherwise.
    """
    seq = 0
    for i in range(batches):
        day = i % days
        ingested = DAY0 + timedelta(days=day, hours=1, seconds=i)
        seqs = range(seq, seq + rows)
        upto = {S0: Position(seq + rows)}
        assert lake["silver"].append(silver_batch(seqs, day, ingested), upto) == rows
        assert lake["bronze"].append(bronze_batch(seqs, ingested), upto) == rows
        bad = quarantine_batch(range(seq, seq + (3 if i % 2 == 0 else 0)), ingested)
        lake["quarantine"].append(bad, upto)
        seq += rows
    return seq


def frame(lt: IcebergTable, snapshot_id: int | None = None) -> pa.Table:
    t = lt.refresh()
    data = t.scan(snapshot_id=snapshot_id).to_arrow()
    return data.sort_by([(RECORD_ID, "ascending")])


def files_per_partition(lt: IcebergTable) -> dict[str, int]:
    t = lt.refresh()
    files = t.inspect.files()
    counts: dict[str, int] = {}
    for part in files.column("partition").to_pylist():
        k = repr(sorted(part.items()))
        counts[k] = counts.get(k, 0) + 1
    return counts


def current(lt: IcebergTable) -> Snapshot:
    snap = lt.refresh().current_snapshot()
    assert snap is not None
    return snap


def positions_raw(snap: Snapshot) -> str | None:
    return snap.summary[POSITIONS_KEY] if snap.summary is not None else None


def by_layer(reports: list[CompactReport]) -> dict[str, CompactReport]:
    """Reports keyed by layer (a report names its table ``layer.table_name``)."""
    return {r.table.split(".")[0]: r for r in reports}


def run(
    settings: Settings, contract: Contract, tables: list[str] | None = None, **kw: Any
) -> dict[str, CompactReport]:
    return by_layer(compact(settings, contract, CompactOptions(**kw), tables))


def test_compaction_keeps_rows_positions_and_history(
    settings: Settings, contract: Contract
) -> None:
    lake = make_tables(settings, contract)
    end = load(lake)
    before = {t: frame(lake[t]) for t in TABLES}
    snap_before = {t: current(lake[t]) for t in TABLES}
    assert all(n == 7 or n == 6 for n in files_per_partition(lake["silver"]).values())

    reports = run(settings, contract)

    assert set(reports) == set(TABLES)
    for t in ("silver", "bronze"):
        r = reports[t]
        assert r.table == lake[t].label
        assert (r.partitions_rewritten, r.files_before, r.files_after) == (3, 20, 3)
        assert r.rows_before == r.rows_after == 1000
        assert r.duplicates_removed == 0 and r.snapshots_expired == 0 and r.conflicts == 0
        assert set(files_per_partition(lake[t]).values()) == {1}
        assert frame(lake[t]).equals(before[t])
        assert lake[t].positions([S0]) == {S0: Position(end)}
        assert positions_raw(current(lake[t])) == positions_raw(snap_before[t]) is not None
        # time travel to the snapshot before compaction still works
        assert frame(lake[t], snap_before[t].snapshot_id).equals(before[t])
    # quarantine: 10 files over 3 days (4/3/3), so only the day with 4 files is rewritten
    q = reports["quarantine"]
    assert (q.partitions_rewritten, q.files_before, q.files_after, q.rows_after) == (1, 10, 7, 30)
    assert frame(lake["quarantine"]).equals(before["quarantine"])
    assert lake["quarantine"].positions([S0]) == {S0: Position(end)}

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
        assert lake[t].positions([S0]) == {S0: Position(end)}


def test_retain_last_keeps_history(settings: Settings, contract: Contract) -> None:
    lake = make_tables(settings, contract)
    load(lake, batches=8)
    opts = {"min_files": 2, "expire_older_than": timedelta(0), "retain_last": 3}
    reports = run(settings, contract, tables=["silver"], **opts)
    # 8 appends + 3 rewrites = 11 snapshots; the 3 latest are kept
    assert set(reports) == {"silver"}
    assert reports["silver"].snapshots_expired == 8
    assert len(lake["silver"].refresh().snapshots()) == 3


def test_rewrite_properties_set_on_older_tables(settings: Settings, contract: Contract) -> None:
    """New tables are created with snapshot isolation; tables made before get it (and no
    internal pyiceberg retries) in a properties-only commit before the first rewrite."""
    lake = make_tables(settings, contract)
    silver = lake["silver"]
    assert REWRITE_PROPERTIES.items() <= silver.properties().items()
    load(lake, batches=8, days=1)
    with silver.refresh().transaction() as tx:
        tx.remove_properties(*REWRITE_PROPERTIES)
    stripped = silver.properties()
    assert not set(REWRITE_PROPERTIES) & set(stripped)

    dry = run(settings, contract, tables=["silver"], dry_run=True)
    assert dry["silver"].partitions_rewritten == 1
    assert silver.properties() == stripped  # a dry run writes nothing, not even properties
    head = current(silver)

    reports = run(settings, contract, tables=["silver"])
    assert reports["silver"].partitions_rewritten == 1
    props = silver.properties()
    assert REWRITE_PROPERTIES.items() <= props.items()
    assert props[TableProperties.WRITE_UPDATE_ISOLATION_LEVEL] == "snapshot"
    # the properties commit made no snapshot: the rewrite's parent is the last append
    assert current(silver).parent_snapshot_id == head.snapshot_id


@pytest.mark.parametrize("hook_rows", [40, 0])
def test_concurrent_append_loses_no_rows(
    settings: Settings, contract: Contract, hook_rows: int
) -> None:
    """A worker commit between read and commit (rows, or a positions-only snapshot)."""
    lake = make_tables(settings, contract)
    end = load(lake, batches=12, days=2)
    worker = iceberg(settings, "silver", contract)  # a second process's handle
    appended: list[int] = []

    def hook(label: str) -> None:
        if not appended:
            seqs = range(end, end + hook_rows)
            ingested = DAY0 + timedelta(hours=5)
            batch = silver_batch(seqs, 0, ingested, key_offset=10_000)
            appended.append(worker.append(batch, {S0: Position(end + 100)}))

    report = compact_table(lake["silver"], CompactOptions(), before_commit=hook)

    assert appended == [hook_rows]
    assert report.partitions_rewritten == 2 and report.conflicts == 1
    silver = frame(lake["silver"])
    assert silver.num_rows == 600 + hook_rows == report.rows_after
    assert len(set(silver.column(RECORD_ID).to_pylist())) == silver.num_rows
    # the worker's positions survive the compaction commit
    assert lake["silver"].positions([S0]) == {S0: Position(end + 100)}
    assert sorted(files_per_partition(lake["silver"]).values()) == ([1, 2] if hook_rows else [1, 1])


def test_compaction_while_a_worker_thread_appends(settings: Settings, contract: Contract) -> None:
    """Real concurrency: a thread commits to silver every ~0.25 s while compaction runs."""
    lake = make_tables(settings, contract)
    end = load(lake, batches=12, rows=500)
    stop = threading.Event()
    state = {"rows": 0, "next": end, "commits": 0}

    def worker() -> None:
        lt = iceberg(settings, "silver", contract)
        i = 0
        while not stop.is_set():
            n = 100 if i % 3 else 0  # every third commit is positions-only
            seqs = range(state["next"], state["next"] + n)
            batch = silver_batch(seqs, i % 3, DAY0 + timedelta(hours=6), key_offset=10_000)
            state["rows"] += lt.append(batch, {S0: Position(state["next"] + n + 1)})
            state["next"] += n + 1
            state["commits"] += 1
            i += 1
            time.sleep(0.25)  # a busy worker: ~3 commits per second to this table

    # a slow first commit per partition, so that a worker commit lands between our refresh
    # and commit; the retries then go through (pyiceberg's own retries are off: they would
    # reuse stale positions, see stores/lake/iceberg.py)
    slowed: set[str] = set()

    def slow_first_commit(label: str) -> None:
        if label not in slowed:
            slowed.add(label)
            time.sleep(0.3)

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        time.sleep(0.3)
        started = state["commits"]
        report = compact_table(lake["silver"], CompactOptions(), before_commit=slow_first_commit)
        during = state["commits"] - started
    finally:
        stop.set()
        thread.join()
    assert report.partitions_rewritten == 3 and during >= 3
    silver = frame(lake["silver"])
    assert silver.num_rows == 6000 + state["rows"]
    assert len(set(silver.column(RECORD_ID).to_pylist())) == silver.num_rows
    assert lake["silver"].positions([S0]) == {S0: Position(state["next"])}


def test_competing_compactor_wins_without_duplicates(
    settings: Settings, contract: Contract
) -> None:
    """Another compactor replaces our files first: ours is refused, nothing doubles."""
    lake = make_tables(settings, contract)
    load(lake, batches=8, days=1)
    before = frame(lake["silver"])
    other = iceberg(settings, "silver", contract)
    others: list[CompactReport] = []

    def race(label: str) -> None:
        if not others:
            others.append(compact_table(other, CompactOptions()))

    report = compact_table(lake["silver"], CompactOptions(), before_commit=race)
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
    # stream 1 seq 0, ingested later but committed first, repeats row 5's key
    dup = silver_batch(range(0, 1), 0, DAY0 + timedelta(hours=3), part=1)
    dup = dup.set_column(0, "device_id", first.slice(5, 1).column("device_id"))
    dup = dup.set_column(1, "timestamp", first.slice(5, 1).column("timestamp"))
    lake["silver"].append(dup, {S1: Position(1)})
    lake["silver"].append(first, {S0: Position(10)})

    reports = run(settings, contract, tables=["silver"], min_files=2)

    assert reports["silver"].duplicates_removed == 1
    silver = frame(lake["silver"])
    assert silver.num_rows == 10
    ids = set(silver.column(RECORD_ID).to_pylist())
    assert "k:abc:0:5" in ids and "k:abc:1:0" not in ids
    assert lake["silver"].positions([S0, S1]) == {S0: Position(10), S1: Position(1)}


def test_no_dedupe_outside_silver(settings: Settings, contract: Contract) -> None:
    """Bronze keeps every record, even with the same natural key in its payload."""
    lake = make_tables(settings, contract)
    ingested = DAY0 + timedelta(hours=2)
    batch = bronze_batch(range(0, 4), ingested)
    for i in range(4):  # four files, each the same record id
        lake["bronze"].append(batch.slice(i, 1), {S0: Position(i + 1)})
    reports = run(settings, contract, tables=["bronze"], min_files=2)
    assert reports["bronze"].partitions_rewritten == 1
    assert reports["bronze"].duplicates_removed == 0
    assert frame(lake["bronze"]).num_rows == 4


def test_dry_run_changes_nothing(settings: Settings, contract: Contract) -> None:
    lake = make_tables(settings, contract)
    load(lake, batches=12)
    head = lake["bronze"].refresh().current_snapshot()
    labels: list[str] = []
    reports = by_layer(
        compact(
            settings,
            contract,
            CompactOptions(dry_run=True, expire_older_than=timedelta(0)),
            progress=labels.append,
        )
    )
    assert reports["bronze"].partitions_rewritten == 3
    assert reports["bronze"].files_after == 3 and reports["bronze"].snapshots_expired == 7
    assert lake["bronze"].refresh().current_snapshot() == head
    # progress names the table and the partition, once per planned partition
    assert len(labels) == sum(r.partitions_rewritten for r in reports.values())
    assert "bronze _ingested_at_day=2024-05-01" in labels


def test_clear_errors(settings: Settings, contract: Contract) -> None:
    with pytest.raises(CompactionError, match="run `lakesmith run"):
        compact(settings, contract, CompactOptions())
    make_tables(settings, contract)
    with pytest.raises(CompactionError, match="unknown table"):
        compact(settings, contract, CompactOptions(), ["platinum"])
    with pytest.raises(CompactionError, match="no gold tables"):
        compact(settings, contract, CompactOptions(), ["gold"])  # iot has no gold model


def test_cli(
    settings: Settings, contract: Contract, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lakesmith.cli import common
    from lakesmith.cli.compact import compact as compact_command

    lake = make_tables(settings, contract)
    load(lake, batches=8)
    monkeypatch.setenv("LAKESMITH__STATE_DIR", str(settings.state_dir))
    monkeypatch.setenv("LAKESMITH__LAKE__COMMIT_LOCK", "none")  # no PostgreSQL here
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
    bad = runner.invoke(app, ["compact", path, "--tables", "platinum"])
    assert bad.exit_code == 2 and "choose from" in bad.output


@pytest.mark.parametrize("where", ["folder", "s3"])
def test_files_staged_by_a_killed_run_are_deleted_once_old(
    where: str, settings: Settings, contract: Contract, request: pytest.FixtureRequest
) -> None:
    """A run killed between ``stage`` and ``commit_staged`` leaves data files no snapshot
    references: compaction deletes them once older than ``orphans_older_than`` (kept while
    younger: a live writer's staged files), and never a committed file."""
    if where == "s3":
        from lakesmith.stores.objects import ensure_bucket, s3_client

        stack: Settings = request.getfixturevalue("stack_settings")
        ensure_bucket(s3_client(stack), "compact-orphans")
        lake = stack.lake.model_copy(update={"warehouse": "s3://compact-orphans/warehouse"})
        settings = stack.model_copy(update={"lake": lake})
    tables = make_tables(settings, contract)
    load(tables, batches=4)
    silver = tables["silver"]
    rows_before = frame(silver).num_rows
    staged = silver.stage(silver_batch(range(1000, 1050), 0, DAY0), {S0: Position(1050)})
    assert staged.files  # written, never committed: the run "died" here
    paths = {f.file_path for f in staged.files}

    def exists(path: str) -> bool:
        return silver.refresh().io.new_input(path).exists()

    young = run(settings, contract, tables=["silver"], orphans_older_than=timedelta(hours=1))
    assert all(exists(p) for p in paths)  # too young: maybe a live writer's
    assert young["silver"].files_deleted == 0
    old = run(settings, contract, tables=["silver"], orphans_older_than=timedelta(0))
    assert not any(exists(p) for p in paths)
    assert old["silver"].files_deleted == len(paths)
    assert frame(silver).num_rows == rows_before  # every committed file is still there
    assert silver.positions([S0]) == {S0: Position(200)}
