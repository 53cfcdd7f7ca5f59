"""What the CLI prints, without services: tables at 80 columns, the DQ report's recovered
records, quarantine payloads, the interrupted run's summary, help text, rule ids."""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from rich.console import Console

from lakesmith.cli.common import tidy_text
from lakesmith.cli.compact import render as render_compaction
from lakesmith.cli.datasets import history_table, payload_text
from lakesmith.cli.run import summary
from lakesmith.contracts import load_contract
from lakesmith.core.errors import LakesmithError
from lakesmith.maintenance.replay import check_rule, known_rule_ids
from lakesmith.pipeline.worker import RunStats
from lakesmith.quality.report import BatchRow, DQSummary, overview, render_table, rule_rows
from lakesmith.quality.report_html import render_html
from lakesmith.stores.lake import CompactReport


def text_of(renderable: object, width: int = 80) -> str:
    console = Console(record=True, width=width, color_system=None)
    console.print(renderable)
    return console.export_text()


def assert_fits(text: str, width: int = 80) -> None:
    assert max(len(line) for line in text.splitlines()) <= width, text
    assert "…" not in text, text  # nothing cut


T0 = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


def summary_with_replay() -> DQSummary:
    batches = [
        BatchRow(f"{i:02d}3f2a9c0b1d4e5f6a7b8c", T0 + timedelta(seconds=i), 200_000, 197_000,
                 2_000, 1_000, T0, 3725.0)
        for i in range(12)
    ]  # fmt: skip
    return DQSummary(
        dataset="iot.telemetry",
        generated_at=T0,
        batches=12,
        records_in=2_400_000,
        valid=2_364_000,
        quarantined=24_000,
        duplicates=12_000,
        recovered=1_500,
        recovered_rules={"temperature_range": 1_500},
        rule_counts={"temperature_range": 20_000, "invalid_json": 4_000},
        schema_versions={"1": 2_000_000, "2": 364_000},
        recent_batches=batches[::-1],
    )


def test_dq_report_counts_replayed_records_as_recovered() -> None:
    s = summary_with_replay()
    assert s.still_quarantined == 22_500
    shown = dict(overview(s))
    assert shown["quarantined"] == "24,000 (1.00%)"  # at ingestion
    assert shown["recovered by replay"] == "1,500 (moved to silver)"
    assert shown["still quarantined"] == "22,500 (0.94%)"
    headers, rows, _ = rule_rows(s)
    assert headers[-1] == "recovered"
    assert rows[0][0] == "temperature_range" and rows[0][-1] == "1,500"
    assert rows[1][0] == "invalid_json" and rows[1][-1] == "0"
    html = render_html(s)
    assert "recovered by replay" in html and "still quarantined" in html


def test_dq_report_without_replays_shows_all_still_quarantined() -> None:
    s = replace(summary_with_replay(), recovered=0, recovered_rules={})
    shown = dict(overview(s))
    assert shown["recovered by replay"] == "0 (moved to silver)"
    assert shown["still quarantined"] == shown["quarantined"]
    assert rule_rows(s)[0] == ["rule", "failures", "% of records in"]


def test_dq_batch_table_fits_80_columns_and_is_whole_when_wide() -> None:
    s = summary_with_replay()
    narrow = text_of(render_table(s))
    assert_fits(narrow)
    assert "2026-12-03 (UTC)" in narrow and "103f2a9c " in narrow  # ids cut to 8
    wide = text_of(render_table(s), width=160)
    assert "113f2a9c0b1d4e5f6a7b8c" in wide and "2026-12-03 10:00:11Z" in wide


def test_compaction_table_fits_80_columns() -> None:
    reports = [
        CompactReport(
            f"{layer}.iot_telemetry",
            120,
            4,
            123_456_789,
            120_000_000,
            2_000_000,
            1_999_000,
            4,
            1_000,
            12,
            130,
            1,
            12.3,
        )
        for layer in ("bronze", "quarantine", "silver")
    ]
    for dry_run in (False, True):
        narrow = text_of(render_compaction(reports, dry_run, 80))
        assert_fits(narrow)
        assert "compaction of iot_telemetry" in narrow and "quarantine" in narrow
        wide = text_of(render_compaction(reports, dry_run, 200), width=200)
        assert "snapshots expired" in wide.splitlines()[2]  # one row per table


def test_schema_history_fits_80_columns() -> None:
    fields = ["device_id", "timestamp", "temperature", "humidity", "battery_level",
              "firmware_version", "location_lat", "location_lon", "status"]  # fmt: skip
    table = history_table(
        "schema history of iot.telemetry (policy: evolve)",
        [
            (1, fields, "2026-12-03 10:00:01Z", "kafka://iot.telemetry/3/1042"),
            (2, [*fields, "pressure"], "2026-12-03 10:05:01Z", "kafka://iot.telemetry/5/104200"),
        ],
    )
    text = text_of(table)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "2026-12-03 10:00:01Z" in text and "location_lon" in text
    assert "v2 │ pressure" in text.replace("  ", " ").replace("  ", " ")


@pytest.mark.parametrize(
    ("payload", "width", "expected"),
    [
        (None, 40, "(no payload)"),
        (b'{"a": 1}', 40, '{"a": 1}'),
        (b"line1\nline2\ttab", None, "line1\\nline2\\ttab"),
        (b"\xff\xfeok", None, "\\xff\\xfeok"),
        (b"x" * 200, 40, "x" * 26 + " … (200 bytes)"),
    ],
)
def test_payload_text(payload: bytes | None, width: int | None, expected: str) -> None:
    assert payload_text(payload, width) == expected


def test_interrupted_run_summary() -> None:
    stats = RunStats(batches=3, records=2500, by_disposition={"valid": 2400, "quarantined": 100},
                     seconds=12.0, active_seconds=2.0)  # fmt: skip
    line = summary("iot.telemetry", stats, interrupted=True)
    assert line.startswith("iot.telemetry: interrupted after 2,500 records in 3 batches")
    assert "quarantined 100, valid 2,400" in line
    assert "nothing committed yet" in summary("x", RunStats(), interrupted=True)
    assert summary("x", RunStats()).endswith("nothing to do")


def test_tidy_text_joins_each_paragraphs_lines() -> None:
    doc = """Ingest a dataset.

        Exactly-once: each batch is committed with its
        positions, and a restarted worker
        resumes from them.
        """
    assert tidy_text(doc) == (
        "Ingest a dataset.\n\nExactly-once: each batch is committed with its positions, "
        "and a restarted worker resumes from them."
    )


def test_rule_ids_come_from_the_contract() -> None:
    contract = load_contract("iot.telemetry")
    known = known_rule_ids(contract)
    assert {"temperature_range", "device_id_required", "temperature_type",
            "temperature_not_finite", "invalid_json", "payload_too_large"} <= set(known)  # fmt: skip
    check_rule(contract, "temperature_range", None)
    check_rule(contract, None, None)
    with pytest.raises(LakesmithError, match="unknown rule 'no_such_rule'") as info:
        check_rule(contract, "no_such_rule", None)
    assert info.value.hint is not None and "temperature_range" in info.value.hint
    with pytest.raises(LakesmithError, match="did you mean 'temperature_range'"):
        check_rule(contract, "temprature_range", None)
    # a rule since removed from the contract, still on quarantined records: accepted
    rows = pl.DataFrame({"_rule_ids": [["old_rule"], ["temperature_range"]]})
    check_rule(contract, "old_rule", rows)


def test_help_imports_no_heavy_library(tmp_path: Path) -> None:
    import subprocess

    code = (
        "import sys, lakesmith.cli; "
        "heavy = {'polars', 'pyarrow', 'psycopg', 'pyiceberg', 'deltalake', 'confluent_kafka', "
        "'boto3', 'prometheus_client', 'matplotlib', 'structlog', 'pydantic_settings'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout


def _help_texts() -> list[tuple[str, str]]:
    """(command path, help text) of every command, group and parameter of the CLI."""
    import typer.main

    from lakesmith.cli import app

    out: list[tuple[str, str]] = []

    def visit(cmd: Any, path: str) -> None:  # Typer's click (it vendors its own)
        out.append((path, cmd.help or ""))
        out.extend((f"{path} {p.name}", getattr(p, "help", None) or "") for p in cmd.params)
        for name, sub in getattr(cmd, "commands", {}).items():
            visit(sub, f"{path} {name}")

    visit(typer.main.get_command(app), "lakesmith")
    return out


# Rich markup the help texts may use on purpose
_STYLES = {"bold", "dim", "italic", "red", "green", "yellow", "cyan", "magenta", "blue", "b", "i"}


def test_help_text_keeps_its_bracketed_names() -> None:
    """Rich renders help as markup: an unescaped ``[schedule]`` vanishes from ``--help``
    ("the jobs declared in  on their cron expressions"). Escape it as ``\\[schedule]``."""
    import re

    lost = [
        (path, m.group(0))
        for path, text in _help_texts()
        for m in re.finditer(r"(?<!\\)\[/?([a-z_.]+)\]", text)
        if m.group(1) not in _STYLES
    ]
    assert len(_help_texts()) > 100  # every command was visited
    assert lost == []


def test_an_unknown_log_level_is_one_clear_error(tmp_path: Path) -> None:
    """``--log-level LOUD`` used to end in a KeyError traceback; the level is checked
    against the setting's own values, in any case."""
    from typer.testing import CliRunner

    from lakesmith.cli import app

    wide = {"COLUMNS": "200"}  # the error box is not wrapped
    result = CliRunner().invoke(
        app, ["--log-level", "LOUD", "ingest", "x.csv", "--dataset", "d"], env=wide
    )
    assert result.exit_code == 2
    assert "'LOUD' is not one of DEBUG, INFO, WARNING, ERROR" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    ok = CliRunner().invoke(app, ["--log-level", "warning", "--state-dir", str(tmp_path), "--help"])
    assert ok.exit_code == 0
