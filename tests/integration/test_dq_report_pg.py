"""DQ reports against the real PostgreSQL: SQL aggregates, per-entity freshness and the CLI."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from lakesmith.cli import dq
from lakesmith.config import Settings
from lakesmith.contracts import Contract, load_contract
from lakesmith.contracts.loader import DOMAINS_DIR
from lakesmith.quality.report import load_dq_summary
from lakesmith.stores.meta import ensure_meta_schema
from lakesmith.stores.postgres import connect

pytestmark = pytest.mark.integration

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

# (batch, processed_at offset s, in, valid, quarantined, dups, rule_counts, versions, lag)
BATCHES: list[tuple[str, int, int, int, int, int, dict[str, int], dict[str, int], float]] = [
    ("b1", 0, 100, 90, 8, 2, {"temperature_range": 5, "invalid_json": 3}, {"1": 97}, 2.0),
    (
        "b2",
        10,
        200,
        195,
        5,
        0,
        {"temperature_range": 4, "humidity_range": 2},
        {"1": 150, "2": 45},
        1.5,
    ),
    ("b3", 20, 50, 40, 10, 0, {"<script>x</script>": 10, "humidity_range": 1}, {"2": 40}, 3.25),
]


def _contract_file(tmp_path: Path, suffix: str, with_timeseries: bool = True) -> Path:
    data: dict[str, Any] = yaml.safe_load((DOMAINS_DIR / "iot" / "telemetry.yaml").read_text())
    data["name"] = f"dqtest.t{suffix}"
    data["source"]["topic"] = f"dqtest.t{suffix}"
    if with_timeseries:
        data["timeseries"]["table"] = f"dqtest_{suffix}"
    else:
        del data["timeseries"]
    path = tmp_path / f"dqtest_{suffix}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _insert_batches(settings: Settings, contract: Contract) -> None:
    with connect(settings) as conn:
        ensure_meta_schema(conn)
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO lakesmith.dq_batches (dataset, batch_id, processed_at, records_in,"
                " valid, quarantined, duplicates, rule_counts, schema_versions, min_event_time,"
                " max_event_time, lag_seconds, source_positions)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (
                        contract.name,
                        bid,
                        T0 + timedelta(seconds=off),
                        n_in,
                        ok,
                        quar,
                        dups,
                        json.dumps(rules),
                        json.dumps(versions),
                        T0 + timedelta(seconds=off - 60),
                        T0 + timedelta(seconds=off - lag),
                        lag,
                        json.dumps({"0": off}),
                    )
                    for bid, off, n_in, ok, quar, dups, rules, versions, lag in BATCHES
                ],
            )


@pytest.fixture
def dataset(stack_settings: Settings, tmp_path: Path) -> tuple[Path, Contract]:
    """A fake dataset with three batches and a time-series table of three devices."""
    path = _contract_file(tmp_path, uuid.uuid4().hex[:10])
    contract = load_contract(str(path))
    assert contract.timeseries is not None
    _insert_batches(stack_settings, contract)
    table = contract.timeseries.table
    with connect(stack_settings) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS timeseries")
        conn.execute(
            f"CREATE TABLE timeseries.{table} (device_id text NOT NULL, ts timestamptz NOT NULL,"
            " temperature double precision, PRIMARY KEY (device_id, ts))"
        )
        # dev-a: 5 rows, newest at T0; dev-b: 3 rows, newest T0-90s; dev-c: 1 row at T0-2h
        conn.execute(
            f"INSERT INTO timeseries.{table} (device_id, ts, temperature)"
            " SELECT 'dev-a', %s - make_interval(secs => g * 10), 20.0 FROM generate_series(0, 4) g"
            " UNION ALL SELECT 'dev-b', %s - make_interval(secs => 90 + g), 21.0"
            " FROM generate_series(0, 2) g"
            " UNION ALL SELECT 'dev-c', %s - interval '2 hours', 22.0",
            (T0, T0, T0),
        )
    return path, contract


def test_summary_totals_rules_versions_and_freshness(
    stack_settings: Settings, dataset: tuple[Path, Contract]
) -> None:
    _, contract = dataset
    with connect(stack_settings) as conn:
        s = load_dq_summary(conn, contract)
    assert (s.batches, s.records_in, s.valid, s.quarantined, s.duplicates) == (3, 350, 325, 23, 2)
    assert s.quarantine_rate == pytest.approx(23 / 350)
    assert s.rule_counts == {
        "<script>x</script>": 10,
        "temperature_range": 9,
        "humidity_range": 3,
        "invalid_json": 3,
    }
    assert list(s.rule_counts) == [  # most failures first, then by rule id
        "<script>x</script>",
        "temperature_range",
        "humidity_range",
        "invalid_json",
    ]
    assert s.schema_versions == {"1": 247, "2": 85}
    assert s.first_processed_at == T0
    assert s.last_processed_at == T0 + timedelta(seconds=20)
    assert s.newest_event_time == T0 + timedelta(seconds=20 - 3.25)
    assert s.oldest_event_time == T0 - timedelta(seconds=60)
    assert s.last_lag_seconds == 3.25
    assert [p.records_in for p in s.series] == [100, 200, 50]
    assert [b.batch_id for b in s.recent_batches] == ["b3", "b2", "b1"]

    assert s.entity_column == "device_id" and s.entity_count == 3
    assert s.entities_newest == T0
    fresh = {e.entity: (e.last_event, e.rows, e.behind_seconds) for e in s.entities}
    assert fresh == {
        "dev-a": (T0, 5, 0.0),
        "dev-b": (T0 - timedelta(seconds=90), 3, 90.0),
        "dev-c": (T0 - timedelta(hours=2), 1, 7200.0),
    }
    assert [e.entity for e in s.entities] == ["dev-c", "dev-b", "dev-a"]  # stalest first


def test_since_last_and_bucketing(stack_settings: Settings, dataset: tuple[Path, Contract]) -> None:
    _, contract = dataset
    with connect(stack_settings) as conn:
        last2 = load_dq_summary(conn, contract, last=2)
        since = load_dq_summary(conn, contract, since=T0 + timedelta(seconds=10))
        both = load_dq_summary(conn, contract, since=T0 + timedelta(seconds=5), last=1)
        bucketed = load_dq_summary(conn, contract, max_points=2)
        none = load_dq_summary(conn, contract, since=T0 + timedelta(days=1))
    assert (last2.batches, last2.records_in, last2.quarantined) == (2, 250, 15)
    assert last2.rule_counts == {
        "<script>x</script>": 10,
        "temperature_range": 4,
        "humidity_range": 3,
    }
    assert (since.batches, since.records_in) == (2, 250)
    assert (both.batches, both.records_in, both.last_lag_seconds) == (1, 50, 3.25)
    assert [(p.batches, p.records_in, p.quarantined) for p in bucketed.series] == [
        (2, 300, 13),
        (1, 50, 10),
    ]
    assert (none.batches, none.records_in, none.rule_counts, none.series) == (0, 0, {}, [])


def test_missing_timeseries_table_is_skipped(stack_settings: Settings, tmp_path: Path) -> None:
    no_table = load_contract(str(_contract_file(tmp_path, uuid.uuid4().hex[:10])))
    no_store = load_contract(str(_contract_file(tmp_path, uuid.uuid4().hex[:10], False)))
    _insert_batches(stack_settings, no_table)
    with connect(stack_settings) as conn:
        s = load_dq_summary(conn, no_table)
        t = load_dq_summary(conn, no_store)
    assert s.batches == 3 and s.entity_count is None and s.entities == []
    assert s.entity_note is not None and "does not exist yet" in s.entity_note
    assert t.entity_count is None and t.entity_note == "the contract has no time-series store"


def _cli_env(settings: Settings) -> dict[str, str]:
    return {
        "LAKESMITH__STATE_DIR": str(settings.state_dir),
        "LAKESMITH__LOCAL__POSTGRES_PORT": str(settings.local.postgres_port),
        "LAKESMITH_CONFIG": "none",
        "COLUMNS": "200",
    }


def test_cli_report_and_html(
    stack_settings: Settings, dataset: tuple[Path, Contract], tmp_path: Path
) -> None:
    path, contract = dataset
    out = tmp_path / "report.html"
    result = CliRunner().invoke(
        dq.app, ["report", str(path), "--html", str(out)], env=_cli_env(stack_settings)
    )
    assert result.exit_code == 0, result.output
    assert f"DQ report: {contract.name} (all batches)" in result.output
    assert "<script>x</script>" in result.output
    assert "HTML report written to" in result.output and out.name in result.output
    doc = out.read_text()
    assert "&lt;script&gt;x&lt;/script&gt;" in doc and "<script" not in doc
    assert len(re.findall(r'src="data:image/png;base64,', doc)) == 3
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", doc)
    assert "dev-c" in doc

    filtered = CliRunner().invoke(
        dq.app, ["report", str(path), "--last", "1"], env=_cli_env(stack_settings)
    )
    assert filtered.exit_code == 0, filtered.output
    # batch ids as whole words: the random contract name may hold "b2" (…f5b24 did)
    assert "last 1 batches" in filtered.output and not re.search(r"\bb2\b", filtered.output)


def test_cli_without_batches_exits_0(stack_settings: Settings, tmp_path: Path) -> None:
    path = _contract_file(tmp_path, uuid.uuid4().hex[:10])
    out = tmp_path / "never.html"
    result = CliRunner().invoke(
        dq.app, ["report", str(path), "--html", str(out)], env=_cli_env(stack_settings)
    )
    assert result.exit_code == 0, result.output
    assert "No DQ batches recorded" in result.output
    assert not out.exists()
    bad = CliRunner().invoke(
        dq.app, ["report", str(path), "--since", "yesterday"], env=_cli_env(stack_settings)
    )
    assert bad.exit_code == 2


def test_dq_sink_positions_answer_while_its_write_transaction_is_open(
    stack_settings: Settings,
) -> None:
    """A rebalance reads positions from the polling thread while the DQ sink's write is
    in its transaction (another thread): the read answers the committed positions on a
    connection of its own (on the writing one it raised "commit() forbidden")."""
    from lakesmith.core.positions import Position
    from lakesmith.pipeline.sinks import DqSink
    from lakesmith.stores import meta

    sink = DqSink(stack_settings, f"suite_{uuid.uuid4().hex[:8]}")
    try:
        with sink.conn.transaction():
            meta.write_positions(sink.conn, sink.sink, {"s://a": Position(10)})
            assert sink.positions(["s://a"]) == {}  # not committed yet
        assert sink.positions(["s://a"]) == {"s://a": Position(10)}
    finally:
        sink.close()
