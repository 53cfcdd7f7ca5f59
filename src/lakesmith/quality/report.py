"""DQ reports (DQ-3): what the per-batch statistics in ``lakesmith.dq_batches`` say.

``load_dq_summary`` builds the summary model from the aggregates ``stores.dq`` computes
in SQL (totals, per-rule and per-schema-version sums, a time series bucketed to at most
``max_points`` points; the cost does not depend on how many batches there are) and, when
the time-series table exists, per-entity freshness. Quarantined records that a later
``quarantine replay`` moved to silver count as *recovered*: the report shows quarantined
(at ingestion), recovered and still quarantined. ``render_table`` shows the summary
in the console; ``quality.report_html.write_html`` writes one self-contained HTML file.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import psycopg
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from lakesmith.contracts.model import Contract
from lakesmith.stores import dq as dq_store
from lakesmith.stores.timeseries import SCHEMA as TIMESERIES_SCHEMA


@dataclass(frozen=True)
class SeriesPoint:
    """One point of the per-batch time series (one batch, or a bucket of batches)."""

    processed_at: datetime  # the last batch's processed_at in the bucket
    batches: int
    records_in: int
    quarantined: int
    duplicates: int
    lag_seconds: float | None  # the largest lag in the bucket

    @property
    def quarantine_rate(self) -> float:
        return self.quarantined / self.records_in if self.records_in else 0.0


@dataclass(frozen=True)
class BatchRow:
    """One recent batch, as the worker recorded it."""

    batch_id: str
    processed_at: datetime
    records_in: int
    valid: int
    quarantined: int
    duplicates: int
    max_event_time: datetime | None
    lag_seconds: float | None


@dataclass(frozen=True)
class EntityFreshness:
    """The newest event of one device/entity in the time-series store."""

    entity: str
    last_event: datetime
    rows: int
    behind_seconds: float  # newest event overall - this entity's newest event


@dataclass(frozen=True)
class DQSummary:
    dataset: str
    generated_at: datetime
    since: datetime | None = None
    last: int | None = None
    batches: int = 0
    records_in: int = 0
    valid: int = 0
    quarantined: int = 0  # at ingestion, including records a replay recovered since
    duplicates: int = 0
    recovered: int = 0  # quarantined records a replay moved to silver since
    recovered_rules: dict[str, int] = field(default_factory=dict)  # by the rules they failed
    first_processed_at: datetime | None = None
    last_processed_at: datetime | None = None
    oldest_event_time: datetime | None = None
    newest_event_time: datetime | None = None
    last_lag_seconds: float | None = None
    rule_counts: dict[str, int] = field(default_factory=dict)  # most failures first
    schema_versions: dict[str, int] = field(default_factory=dict)  # by version
    series: list[SeriesPoint] = field(default_factory=list)  # oldest first
    recent_batches: list[BatchRow] = field(default_factory=list)  # newest first
    # Per-entity freshness: stalest first, at most ``max_entities`` of ``entity_count``.
    entities: list[EntityFreshness] = field(default_factory=list)
    entity_count: int | None = None  # None: not available (see ``entity_note``)
    entities_newest: datetime | None = None  # the newest event in the time-series table
    entity_column: str | None = None
    timeseries_table: str | None = None
    entity_note: str | None = None

    @property
    def quarantine_rate(self) -> float:
        return self.quarantined / self.records_in if self.records_in else 0.0

    @property
    def duplicate_rate(self) -> float:
        return self.duplicates / self.records_in if self.records_in else 0.0

    @property
    def still_quarantined(self) -> int:
        """Quarantined and not recovered by a replay (still in the quarantine table)."""
        return max(self.quarantined - self.recovered, 0)

    @property
    def still_quarantined_rate(self) -> float:
        return self.still_quarantined / self.records_in if self.records_in else 0.0


def entity_column(contract: Contract) -> str | None:
    """The first key field that is not the event time (``device_id``), if any."""
    return next((k for k in contract.keys if k != contract.event_time), None)


def load_dq_summary(
    conn: psycopg.Connection[Any],
    contract: Contract,
    since: datetime | None = None,
    last: int | None = None,
    *,
    max_points: int = 500,
    recent: int = 20,
    max_entities: int = 50,
) -> DQSummary:
    """Summarise the batches of ``contract``'s dataset processed at/after ``since`` (the
    ``last`` N of them when given), plus per-entity freshness from the time-series table."""
    agg = dq_store.batch_aggregates(
        conn, contract.name, since, last, points=max_points, recent=recent
    )
    # Column types match the dataclasses' (bigint → int, double precision → float).
    recent_rows = [BatchRow(*r) for r in agg.recent]
    summary = DQSummary(
        dataset=contract.name,
        generated_at=datetime.now(UTC),
        since=since,
        last=last,
        **agg.totals,
        recovered=agg.recovered,
        recovered_rules=dict(agg.recovered_rules or []),
        last_lag_seconds=recent_rows[0].lag_seconds if recent_rows else None,
        rule_counts=dict(agg.rule_counts),
        schema_versions=dict(agg.schema_versions),
        series=[SeriesPoint(*r) for r in agg.series],
        recent_batches=recent_rows,
    )
    return _with_entities(conn, contract, summary, max_entities)


def _with_entities(
    conn: psycopg.Connection[Any], contract: Contract, summary: DQSummary, limit: int
) -> DQSummary:
    ent = entity_column(contract)
    if contract.timeseries is None:
        return replace(summary, entity_note="the contract has no time-series store")
    table, ts = contract.timeseries.table, contract.timeseries.time_column
    qualified = f"{TIMESERIES_SCHEMA}.{table}"
    summary = replace(summary, timeseries_table=qualified, entity_column=ent)
    if ent is None:
        return replace(summary, entity_note="the contract has no entity key")
    cols = dq_store.timeseries_columns(conn, table)
    if not cols:
        return replace(summary, entity_note=f"{qualified} does not exist yet")
    if not {ent, ts} <= cols:
        return replace(summary, entity_note=f"{qualified} has no {ent!r}/{ts!r} columns")
    rows = dq_store.entity_freshness(conn, table, ent, ts, limit)
    entities = [EntityFreshness(*r[:4]) for r in rows]
    return replace(
        summary,
        entities=entities,
        entity_count=int(rows[0][4]) if rows else 0,
        entities_newest=rows[0][5] if rows else None,
    )


# -- formatting -----------------------------------------------------------------------


def fmt_duration(seconds: float | None) -> str:
    """``75.2`` → ``1m 15s``; ``None`` → ``-``."""
    if seconds is None:
        return "-"
    sign, s = ("-" if seconds < 0 else ""), abs(seconds)
    if s < 60:
        return f"{sign}{s:.1f}s"
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if s >= size or parts:
            parts.append(f"{int(s // size)}{unit}")
            s %= size
    shown = parts[:2] if len(parts) > 1 and not parts[1].startswith("0") else parts[:1]
    return sign + " ".join(shown)


def fmt_time(t: datetime | None) -> str:
    if t is None:
        return "-"
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") + "Z"


def fmt_pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def overview(summary: DQSummary) -> list[tuple[str, str]]:
    """The headline numbers, as (label, value) pairs; shared by the console and HTML."""
    s = summary
    out = [
        ("batches", f"{s.batches:,}"),
        ("processed", f"{fmt_time(s.first_processed_at)} → {fmt_time(s.last_processed_at)}"),
        ("records in", f"{s.records_in:,}"),
        ("valid", f"{s.valid:,}"),
        ("quarantined", f"{s.quarantined:,} ({fmt_pct(s.quarantine_rate)})"),
    ]
    if s.quarantined or s.recovered:
        out += [
            ("recovered by replay", f"{s.recovered:,} (moved to silver)"),
            (
                "still quarantined",
                f"{s.still_quarantined:,} ({fmt_pct(s.still_quarantined_rate)})",
            ),
        ]
    out += [
        ("duplicates", f"{s.duplicates:,} ({fmt_pct(s.duplicate_rate)})"),
        ("newest event", fmt_time(s.newest_event_time)),
        ("lag of last batch", fmt_duration(s.last_lag_seconds)),
        ("schema versions", ", ".join(f"v{v}" for v in s.schema_versions) or "-"),
    ]
    if s.entity_count is not None:
        out.append(("entities", f"{s.entity_count:,}"))
    return out


def filters_text(summary: DQSummary) -> str:
    parts: list[str] = []
    if summary.since is not None:
        parts.append(f"since {fmt_time(summary.since)}")
    if summary.last is not None:
        parts.append(f"last {summary.last} batches")
    return ", ".join(parts) or "all batches"


# Table contents shared by the console and HTML: (headers, rows, left-aligned columns).
TableData = tuple[list[str], list[list[str]], int]


def rule_rows(s: DQSummary) -> TableData:
    """Failures per rule; with a ``recovered`` column once a replay recovered records."""
    if not s.recovered_rules:
        rows = [[r, f"{n:,}", fmt_pct(n / (s.records_in or 1))] for r, n in s.rule_counts.items()]
        return ["rule", "failures", "% of records in"], rows, 1
    rows = [
        [r, f"{n:,}", fmt_pct(n / (s.records_in or 1)), f"{s.recovered_rules.get(r, 0):,}"]
        for r, n in s.rule_counts.items()
    ]
    return ["rule", "failures", "% of records in", "recovered"], rows, 1


def version_rows(s: DQSummary) -> TableData:
    total = sum(s.schema_versions.values()) or 1
    rows = [[f"v{v}", f"{n:,}", fmt_pct(n / total)] for v, n in s.schema_versions.items()]
    return ["version", "records", "share"], rows, 1


def entity_rows(s: DQSummary, limit: int | None = None) -> TableData:
    rows = [
        [e.entity, fmt_time(e.last_event), fmt_duration(e.behind_seconds), f"{e.rows:,}"]
        for e in s.entities[:limit]
    ]
    return [s.entity_column or "entity", "last event", "behind newest", "rows"], rows, 1


def batch_rows(s: DQSummary, limit: int | None = None) -> TableData:
    rows = [
        [
            b.batch_id,
            fmt_time(b.processed_at),
            *(f"{n:,}" for n in (b.records_in, b.valid, b.quarantined, b.duplicates)),
            fmt_duration(b.lag_seconds),
        ]
        for b in s.recent_batches[:limit]
    ]
    headers = ["batch", "processed at", "records in", "valid", "quarantined", "duplicates", "lag"]
    return headers, rows, 2


def _rich(title: str, data: TableData) -> Table:
    headers, rows, left = data
    table = Table(title=Text(title))
    for i, h in enumerate(headers):
        table.add_column(Text(h), justify="left" if i < left else "right")
    for row in rows:
        table.add_row(*(Text(c) for c in row))  # Text: no Rich markup in data
    return table


class Fit:
    """The first of several layouts that fits the console's width unwrapped (else the
    last): a wide table on a wide terminal, a compact one at 80 columns."""

    def __init__(self, *layouts: RenderableType) -> None:
        self.layouts = layouts

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        unbounded = options.update_width(10_000)
        for layout in self.layouts[:-1]:
            if Measurement.get(console, unbounded, layout).maximum <= options.max_width:
                yield layout
                return
        yield self.layouts[-1]


def compact_batch_table(s: DQSummary, limit: int) -> Table:
    """The recent batches for a narrow console: batch ids cut to 8 characters, times
    without the date when every batch shown was processed on the same (UTC) day."""
    batches = s.recent_batches[:limit]
    days = {b.processed_at.astimezone(UTC).date() for b in batches}
    same_day = len(days) == 1
    title = f"last {len(batches)} batches"
    if same_day:
        title += f", processed on {next(iter(days)).isoformat()} (UTC)"
    table = Table(title=Text(title))
    table.add_column("batch", no_wrap=True)
    table.add_column("processed", no_wrap=True)
    for h in ("records\nin", "valid", "quarantined", "duplicates", "lag"):
        table.add_column(Text(h), justify="right", min_width=min(len(h), 7))
    for b in batches:
        t = b.processed_at.astimezone(UTC)
        table.add_row(
            Text(b.batch_id[:8]),
            t.strftime("%H:%M:%SZ") if same_day else t.strftime("%m-%d %H:%M"),
            *(f"{n:,}" for n in (b.records_in, b.valid, b.quarantined, b.duplicates)),
            fmt_duration(b.lag_seconds),
        )
    return table


def render_table(summary: DQSummary, *, rows: int = 10) -> Group:
    """Rich tables for the console: overview, rules, schema versions, freshness, batches."""
    s = summary
    head = Table(show_header=False)
    head.add_column("metric", style="bold")
    head.add_column("value")
    for label, value in overview(s):
        head.add_row(label, Text(value))
    parts: list[RenderableType] = [
        Text(f"DQ report: {s.dataset} ({filters_text(s)})", style="bold"),
        head,
        _rich("rule failures (a record failing two rules counts under both)", rule_rows(s))
        if s.rule_counts
        else Text("no rule failures", style="green"),
        _rich("schema versions", version_rows(s))
        if s.schema_versions
        else Text("no schema versions recorded"),
    ]
    if s.entity_count is None:
        parts.append(Text(f"per-entity freshness: skipped ({s.entity_note})", style="dim"))
    else:
        shown = f"stalest {min(rows, len(s.entities))} of {s.entity_count:,}"
        parts.append(_rich(f"freshness per {s.entity_column} ({shown})", entity_rows(s, rows)))
    n = min(rows, len(s.recent_batches))
    parts.append(Fit(_rich(f"last {n} batches", batch_rows(s, rows)), compact_batch_table(s, rows)))
    return Group(*parts)
