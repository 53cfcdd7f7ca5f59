"""DQ report rendering (console + HTML) on an in-memory summary; no database needed."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from rich.console import Console

from lakesmith.cli.dq import parse_since
from lakesmith.quality.report import (
    BatchRow,
    DQSummary,
    EntityFreshness,
    SeriesPoint,
    fmt_duration,
    render_table,
)
from lakesmith.quality.report_html import (
    plot_entity_freshness,
    plot_quarantine_rate,
    plot_rule_breakdown,
    write_html,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
HOSTILE_RULE = "<script>alert('rule')</script>"
HOSTILE_DEVICE = '<img src="https://evil.example/x.png" onerror=alert(1)>$x$'


def make_summary(n: int = 40) -> DQSummary:
    series = [
        SeriesPoint(T0 + timedelta(seconds=10 * i), 1, 1000, (i * 7) % 30, i % 3, 1.5 + i % 4)
        for i in range(n)
    ]
    recent = [
        BatchRow(f"batch-{i:04d}", p.processed_at, 1000, 990, 8, 2, p.processed_at, 1.5)
        for i, p in reversed(list(enumerate(series)))
    ][:20]
    newest = T0 + timedelta(seconds=10 * n)
    entities = [
        EntityFreshness(HOSTILE_DEVICE, newest - timedelta(hours=3), 12, 3 * 3600.0),
        EntityFreshness("sensor-b", newest - timedelta(seconds=95), 500, 95.0),
        EntityFreshness("sensor-a", newest, 800, 0.0),
    ]
    return DQSummary(
        dataset="iot.telemetry",
        generated_at=newest,
        batches=n,
        records_in=1000 * n,
        valid=1000 * n - sum(p.quarantined + p.duplicates for p in series),
        quarantined=sum(p.quarantined for p in series),
        duplicates=sum(p.duplicates for p in series),
        first_processed_at=series[0].processed_at,
        last_processed_at=series[-1].processed_at,
        oldest_event_time=T0 - timedelta(minutes=1),
        newest_event_time=newest,
        last_lag_seconds=1.5,
        rule_counts={"temperature_range": 300, HOSTILE_RULE: 41, "invalid_json": 7},
        schema_versions={"1": 36_000, "2": 4_000},
        series=series,
        recent_batches=recent,
        entities=entities,
        entity_count=3,
        entity_column="device_id",
        timeseries_table="timeseries.iot_telemetry",
        entities_newest=newest,
    )


def _console_text(summary: DQSummary) -> str:
    con = Console(record=True, width=160, color_system=None)
    con.print(render_table(summary))
    return con.export_text()


def test_render_table_shows_totals_rules_versions_and_freshness() -> None:
    s = make_summary()
    text = _console_text(s)
    assert "DQ report: iot.telemetry (all batches)" in text
    assert f"{s.records_in:,}" in text
    assert "temperature_range" in text and "300" in text
    assert HOSTILE_RULE in text  # shown literally, not swallowed as Rich markup
    assert "v1, v2" in text and "36,000" in text
    assert "freshness per device_id (stalest 3 of 3)" in text
    assert "3h " in text and "1m 35s" in text
    assert "batch-0039" in text  # newest batch first


def test_render_table_without_entities_or_rules() -> None:
    s = make_summary()
    empty = DQSummary(
        dataset=s.dataset,
        generated_at=s.generated_at,
        batches=1,
        records_in=10,
        valid=10,
        series=s.series[:1],
        recent_batches=s.recent_batches[:1],
        entity_note="timeseries.iot_telemetry does not exist yet",
        last=5,
    )
    text = _console_text(empty)
    assert "no rule failures" in text
    assert "skipped (timeseries.iot_telemetry does not exist yet)" in text
    assert "last 5 batches" in text


def test_html_is_self_contained_and_escaped(tmp_path: Path) -> None:
    path = write_html(make_summary(), tmp_path / "sub" / "report.html")
    doc = path.read_text(encoding="utf-8")
    assert doc.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", doc, re.IGNORECASE)
    assert "http://" not in doc and "https://" not in doc.replace("https://evil", "")
    assert "<script" not in doc.lower() and "<link" not in doc.lower()
    assert html_escaped(HOSTILE_RULE) in doc
    assert html_escaped(HOSTILE_DEVICE) in doc
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', doc)
    assert len(images) == 3  # quarantine rate, rule breakdown, per-device freshness
    for b64 in images:
        assert base64.b64decode(b64).startswith(b"\x89PNG\r\n\x1a\n")
    for title in ("Quarantine rate over time", "Rule breakdown", "Per-entity freshness"):
        assert title in doc
    assert "Schema versions" in doc and "Last 20 batches" in doc


def html_escaped(text: str) -> str:
    import html

    return html.escape(text, quote=True)


def test_html_of_a_sparse_summary(tmp_path: Path) -> None:
    s = make_summary(1)
    sparse = DQSummary(
        dataset=s.dataset,
        generated_at=s.generated_at,
        batches=1,
        records_in=1000,
        valid=1000,
        series=s.series,
        recent_batches=s.recent_batches,
        entity_count=0,
        entity_column="device_id",
    )
    doc = write_html(sparse, tmp_path / "r.html").read_text()
    assert doc.count("data:image/png;base64,") == 1  # only the quarantine rate
    assert "no rule failures" in doc and "no rows in the time-series table" in doc


def test_plots_are_pngs_or_none() -> None:
    s = make_summary(600)
    for png in (plot_quarantine_rate(s), plot_rule_breakdown(s), plot_entity_freshness(s)):
        assert png is not None and png.startswith(b"\x89PNG")
    empty = DQSummary(dataset="a.b", generated_at=T0)
    assert plot_quarantine_rate(empty) is None
    assert plot_rule_breakdown(empty) is None
    assert plot_entity_freshness(empty) is None


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (0.25, "0.2s"),
        (59.9, "59.9s"),
        (95, "1m 35s"),
        (3 * 86400 + 7200, "3d 2h"),
        (7200.5, "2h"),
    ],
)
def test_fmt_duration(seconds: float | None, text: str) -> None:
    assert fmt_duration(seconds) == text


def test_parse_since() -> None:
    now = datetime(2024, 5, 2, tzinfo=UTC)
    assert parse_since(None) is None
    assert parse_since("24h", now) == datetime(2024, 5, 1, tzinfo=UTC)
    assert parse_since("2024-05-01T10:00:00Z") == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert parse_since("2024-05-01T10:00:00") == datetime(2024, 5, 1, 10, tzinfo=UTC)
    off = parse_since("2024-05-01T12:00:00+02:00")
    assert off is not None and off.astimezone(UTC) == datetime(2024, 5, 1, 10, tzinfo=UTC)
    with pytest.raises(typer.BadParameter):
        parse_since("yesterday")
