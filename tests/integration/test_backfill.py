"""``lakesmith backfill``: silver (the lake) → time-series table, against real PostgreSQL.

Silver is written directly (no Kafka), as one stream (the topic's partition 0): v1 files
without the pressure column, then v2 files, several files per day. Every test uses its
own dataset, so tests do not collide.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import typer
import yaml
from typer.testing import CliRunner

from lakesmith.cli.backfill import backfill as backfill_command
from lakesmith.config import Settings
from lakesmith.contracts import Contract, load_contract
from lakesmith.contracts.loader import DOMAINS_DIR
from lakesmith.core.positions import Position
from lakesmith.maintenance.backfill import Backfill, BackfillReport, DayResult
from lakesmith.pipeline.dataset import Dataset
from lakesmith.silver.tables import partitioning, silver_columns
from lakesmith.sources.kafka import kafka_spec
from lakesmith.stores import pgcopy
from lakesmith.stores.lake import SCHEMA_VERSION_PROP, LakeTable
from lakesmith.stores.postgres import connect
from lakesmith.stores.timeseries import TimeseriesTable

pytestmark = pytest.mark.integration

DAYS = [date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 3)]
COLUMNS = [
    "device_id",
    "ts",
    "temperature",
    "humidity",
    "firmware_version",
    "pressure",
    "_record_id",
]
KEYS = ["device_id", "ts"]
_names = itertools.count()


def stream_of(contract: Contract) -> str:
    """The stream of the topic's partition 0 (what the Kafka source names it)."""
    return f"kafka://{kafka_spec(contract.source).topic}/0"


def silver(settings: Settings, contract: Contract) -> LakeTable:
    return Dataset(settings, contract).silver


def telemetry(day: date, n: int, version: int, first: int, stream: str) -> pl.DataFrame:
    """``n`` silver rows of one day (unique keys) of ``stream`` from seq ``first``,
    vectorised; v1 rows have no pressure."""
    rng = np.random.default_rng(first)
    i = np.arange(first, first + n)
    start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1_000_000)
    micros = start + (i % 4000) * 21_600_000 + rng.integers(0, 1_000_000, n) + i // 4000
    frame = pl.DataFrame(
        {
            "device_id": pl.Series(i % 40).cast(pl.String),
            "timestamp": pl.Series(micros).cast(pl.Datetime("us", "UTC")),
            "temperature": rng.normal(21.5, 4, n).round(3),
            "humidity": pl.Series(rng.uniform(0, 100, n)).scatter([0], None),
            "firmware_version": "v1.2.0" if version == 1 else "v1.3.0",
            "_seq": i,
        }
    ).with_columns(
        device_id="dev-" + pl.col("device_id").str.zfill(3) + ("-ü" if version == 2 else ""),
        _record_id=pl.format("k:5ca1ab1e:0:{}", "_seq"),
        _source=pl.format(f"{stream}/{{}}", "_seq"),
        _stream=pl.lit(stream),
        _ingested_at=pl.col("timestamp") + pl.duration(seconds=2),
        _batch_id=pl.lit(f"b{first}"),
        _schema_version=pl.lit(version, pl.Int32),
    )
    if version >= 2:
        frame = frame.with_columns(pressure=pl.Series(rng.uniform(950, 1050, n)))
    return frame


@pytest.fixture
def dataset(stack_settings: Settings, tmp_path: Path) -> Contract:
    """A fresh copy of iot.telemetry with silver history over three days."""
    raw = yaml.safe_load((DOMAINS_DIR / "iot" / "telemetry.yaml").read_text())
    name = f"bf{next(_names)}_{tmp_path.name[-8:].lower().replace('-', '_')}"
    raw["name"], raw["source"]["topic"] = f"test.{name}", f"test.{name}"
    raw["timeseries"]["table"] = f"test_{name}"
    path = tmp_path / "contract.yaml"
    path.write_text(yaml.safe_dump(raw))
    contract = load_contract(str(path))
    lake, stream = silver(stack_settings, contract), stream_of(contract)
    lake.ensure(silver_columns(contract, 1), partitioning(contract), contract.lake.sort_by,
                {SCHEMA_VERSION_PROP: "1"})  # fmt: skip
    seq = 0  # the next seq of the stream

    def append(frame: pl.DataFrame) -> None:
        nonlocal seq
        seq += frame.height
        assert lake.append(frame.to_arrow(), {stream: Position(seq)}) == frame.height

    for day in DAYS[:2]:  # v1 only: these files have no pressure column at all
        append(telemetry(day, 700, 1, seq, stream))
    lake.add_columns(silver_columns(contract, 2), {SCHEMA_VERSION_PROP: "2"})
    for day in DAYS[1:]:  # day 2 mixes v1 and v2, day 3 is v2
        append(telemetry(day, 900, 2, seq, stream))
        append(telemetry(day, 600, 2, seq, stream))
    return contract


def lake_rows(settings: Settings, contract: Contract, day: date | None = None) -> pl.DataFrame:
    data = silver(settings, contract).scan()
    rows = data.rename({"timestamp": "ts"}).select(COLUMNS)
    return rows.filter(pl.col("ts").dt.date() == day) if day else rows


def pg_rows(settings: Settings, contract: Contract, extra: str = "") -> pl.DataFrame:
    assert contract.timeseries is not None
    cols = ", ".join(COLUMNS) + (f", {extra}" if extra else "")
    with connect(settings) as conn:
        rows = conn.execute(f"SELECT {cols} FROM timeseries.{contract.timeseries.table}").fetchall()
    schema: dict[str, Any] = {
        "device_id": pl.String, "ts": pl.Datetime("us", "UTC"), "temperature": pl.Float64,
        "humidity": pl.Float64, "firmware_version": pl.String, "pressure": pl.Float64,
        "_record_id": pl.String,
    }  # fmt: skip
    if extra:
        schema[extra] = pl.String
    return pl.DataFrame(rows, schema=schema, orient="row")


def same_rows(a: pl.DataFrame, b: pl.DataFrame) -> bool:
    return a.sort(KEYS).equals(b.sort(KEYS))


def checkpoints(settings: Settings, contract: Contract) -> list[tuple[Any, ...]]:
    with connect(settings) as conn:
        return conn.execute(
            "SELECT day, rows, checksum, verified, finished_at FROM lakesmith.backfill_days "
            "WHERE dataset = %s ORDER BY day",
            (contract.name,),
        ).fetchall()


def backfill(settings: Settings, contract: Contract, **kwargs: Any) -> BackfillReport:
    on_day: Callable[[DayResult], None] | None = kwargs.pop("on_day", None)
    job = Backfill(settings, contract, **kwargs)
    try:
        return job.run(on_day=on_day)
    finally:
        job.close()


def test_backfill_reproduces_the_lake_and_a_second_run_changes_nothing(
    stack_settings: Settings, dataset: Contract
) -> None:
    report = backfill(stack_settings, dataset)
    assert [d.day for d in report.days] == DAYS
    assert all(d.ok and d.path == "attach" for d in report.days)
    assert report.rows == 700 + 700 + 1500 + 1500 and not report.mismatched
    assert same_rows(pg_rows(stack_settings, dataset), lake_rows(stack_settings, dataset))
    pg = pg_rows(stack_settings, dataset)
    assert pg.filter(pl.col("firmware_version") == "v1.2.0")["pressure"].null_count() == 1400
    assert pg.filter(pl.col("firmware_version") == "v1.3.0")["pressure"].null_count() == 0
    marks = checkpoints(stack_settings, dataset)
    assert [(d, n, v) for d, n, _, v, _ in marks] == [
        (DAYS[0], 700, True),
        (DAYS[1], 2200, True),
        (DAYS[2], 1500, True),
    ]
    xmin = pg_rows(stack_settings, dataset, "xmin::text")

    again = backfill(stack_settings, dataset)  # verified days are skipped
    assert again.days == [] and again.skipped == DAYS
    assert checkpoints(stack_settings, dataset) == marks

    forced = backfill(stack_settings, dataset, force=True)  # redone: staged, nothing differs
    assert [(d.path, d.written, d.ok) for d in forced.days] == [("upsert", 0, True)] * 3
    assert [d.lake for d in forced.days] == [d.lake for d in report.days]
    assert same_rows(pg_rows(stack_settings, dataset, "xmin::text"), xmin)  # no row rewritten
    assert [m[:4] for m in checkpoints(stack_settings, dataset)] == [m[:4] for m in marks]


def test_an_interrupted_backfill_resumes_at_the_first_unfinished_day(
    stack_settings: Settings, dataset: Contract, monkeypatch: pytest.MonkeyPatch
) -> None:
    def stop_after_first(result: DayResult) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        backfill(stack_settings, dataset, jobs=1, on_day=stop_after_first)
    assert [m[0] for m in checkpoints(stack_settings, dataset)] == DAYS[:1]
    assert pg_rows(stack_settings, dataset)["ts"].dt.date().unique().to_list() == DAYS[:1]

    encode = pgcopy.encode_copy
    calls = itertools.count()

    def fail_mid_day(*args: Any) -> Any:  # dies inside day 2's COPY: the day rolls back
        if next(calls) == 1:
            raise RuntimeError("disk on fire")
        return encode(*args)

    monkeypatch.setattr(pgcopy, "encode_copy", fail_mid_day)
    with pytest.raises(RuntimeError, match="disk on fire"):
        backfill(stack_settings, dataset, jobs=1)
    monkeypatch.undo()
    assert [m[0] for m in checkpoints(stack_settings, dataset)] == DAYS[:1]
    with connect(stack_settings) as conn:  # nothing half-made is left behind
        left = conn.execute(
            "SELECT count(*) FROM pg_class WHERE relname LIKE %s",
            (f"%{dataset.table_name}_p%_bf%",),
        ).fetchone()
    assert left == (0,)

    report = backfill(stack_settings, dataset)
    assert [d.day for d in report.days] == DAYS[1:] and report.skipped == DAYS[:1]
    assert same_rows(pg_rows(stack_settings, dataset), lake_rows(stack_settings, dataset))


def test_verify_only_finds_a_tampered_row_and_the_next_run_repairs_it(
    stack_settings: Settings, dataset: Contract, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    backfill(stack_settings, dataset)
    assert dataset.timeseries is not None
    table = f"timeseries.{dataset.timeseries.table}"
    with connect(stack_settings) as conn:
        changed = conn.execute(
            f"UPDATE {table} SET temperature = temperature + 0.001 WHERE (device_id, ts) = "
            f"(SELECT device_id, ts FROM {table}_p20240302 ORDER BY device_id, ts LIMIT 1)"
        ).rowcount
    assert changed == 1
    report = backfill(stack_settings, dataset, verify_only=True)
    assert [(d.day, d.ok, d.path) for d in report.days] == [
        (DAYS[0], True, "verify"), (DAYS[1], False, "verify"), (DAYS[2], True, "verify")
    ]  # fmt: skip
    bad = report.mismatched[0]
    assert bad.lake.rows == bad.target.rows == 2200
    assert bad.lake.differences(bad.target) == ["temperature"]
    assert [m[3] for m in checkpoints(stack_settings, dataset)] == [True, False, True]

    # the command: prints the day, exits 1
    for key, value in {"STATE_DIR": str(stack_settings.state_dir), "LOG_LEVEL": "WARNING",
                       "LOCAL__POSTGRES_PORT": str(stack_settings.local.postgres_port)}.items():  # fmt: skip
        monkeypatch.setenv(f"LAKESMITH__{key}", value)
    app = typer.Typer()
    app.command()(backfill_command)
    path = str(tmp_path / "contract.yaml")  # written by the dataset fixture
    result = CliRunner().invoke(app, [path, "--verify-only", "--until", "2024-03-02"])
    assert result.exit_code == 1, result.output
    assert "2024-03-02" in result.output and "temperature" in result.output

    repair = backfill(stack_settings, dataset)  # only the unverified day is redone
    assert [(d.day, d.path, d.written, d.ok) for d in repair.days] == [(DAYS[1], "upsert", 1, True)]
    assert same_rows(pg_rows(stack_settings, dataset), lake_rows(stack_settings, dataset))
    result = CliRunner().invoke(app, [path, "--verify-only"])
    assert result.exit_code == 0, result.output


def test_since_and_until_limit_the_days(stack_settings: Settings, dataset: Contract) -> None:
    report = backfill(stack_settings, dataset, since=DAYS[1], until=DAYS[1])
    assert [d.day for d in report.days] == [DAYS[1]]
    assert same_rows(pg_rows(stack_settings, dataset), lake_rows(stack_settings, dataset, DAYS[1]))
    report = backfill(stack_settings, dataset, since=DAYS[2])
    assert [d.day for d in report.days] == [DAYS[2]]
    assert [m[0] for m in checkpoints(stack_settings, dataset)] == DAYS[1:]


def test_a_partly_loaded_day_is_completed_by_upsert(
    stack_settings: Settings, dataset: Contract
) -> None:
    ts = TimeseriesTable(stack_settings, dataset)
    ts.ensure(dataset.fields)
    lake = lake_rows(stack_settings, dataset, DAYS[1]).rename({"ts": "timestamp"})
    ts.ensure_partitions([DAYS[1], DAYS[2]])  # day 3's partition exists but stays empty
    streamed = lake.head(500).with_columns(pl.col("temperature") + 1)  # 500 rows, 500 stale
    ts.upsert(streamed)
    ts.close()
    report = backfill(stack_settings, dataset)
    assert [(d.day, d.path, d.ok) for d in report.days] == [
        (DAYS[0], "attach", True), (DAYS[1], "upsert", True), (DAYS[2], "attach", True)
    ]  # fmt: skip
    assert report.days[1].written == 2200  # 1700 inserted + 500 corrected
    assert same_rows(pg_rows(stack_settings, dataset), lake_rows(stack_settings, dataset))


def test_verify_only_before_any_load_reports_every_day(
    stack_settings: Settings, dataset: Contract
) -> None:
    report = backfill(stack_settings, dataset, verify_only=True)  # no table yet: none created
    assert [(d.day, d.target.rows, d.ok) for d in report.days] == [(d, 0, False) for d in DAYS]
    assert report.days[0].lake.differences(report.days[0].target)[0] == "rows"
    with connect(stack_settings) as conn:
        assert conn.execute(
            "SELECT to_regclass(%s)", (f"timeseries.{dataset.table_name}",)
        ).fetchone() == (None,)
    assert backfill(stack_settings, dataset).mismatched == []  # unverified days get loaded


def test_duplicate_keys_in_the_lake_are_reported_not_fatal(
    stack_settings: Settings, dataset: Contract
) -> None:
    lake, stream = silver(stack_settings, dataset), stream_of(dataset)
    dup = (
        telemetry(DAYS[0], 700, 1, 0, stream)
        .head(3)
        .with_columns(pl.col("temperature") + 5, _seq=pl.int_range(10_000, 10_003))
    )  # three day-1 keys again, other values: an upstream dedupe failure
    lake.append(dup.to_arrow(), {stream: Position(10_003)})
    report = backfill(stack_settings, dataset)
    first = report.days[0]
    assert (first.path, first.ok, first.lake.rows, first.target.rows) == ("upsert", False, 703, 700)
    assert first.lake.differences(first.target)[0] == "rows"
    assert all(d.ok for d in report.days[1:])
