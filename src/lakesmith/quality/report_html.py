"""The HTML form of a DQ report: one self-contained file, plots embedded as base64 PNG.

Plots are drawn with matplotlib's object API on the Agg canvas (no pyplot, no global
backend state, safe in threads). Every string that reaches the HTML goes through
``html.escape``; every string that reaches a plot has its ``$`` escaped (mathtext).

This module imports matplotlib: import it only when writing HTML (``cli.dq`` imports it
inside the command, so ``lakesmith --help`` stays fast).
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from datetime import UTC
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from lakesmith.quality.report import (
    DQSummary,
    TableData,
    batch_rows,
    entity_rows,
    filters_text,
    fmt_duration,
    fmt_pct,
    fmt_time,
    overview,
    rule_rows,
    version_rows,
)

MAX_BARS = 25
_COLOR = "#3b6ea5"
_BAD = "#c0392b"


def _label(text: str, width: int = 36) -> str:
    """Plot-safe label: short, and no mathtext (``$…$``) interpretation."""
    short = text if len(text) <= width else text[: width - 1] + "…"
    return short.replace("$", r"\$")


def _figure(height: float) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(9.0, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.grid(axis="both", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def plot_quarantine_rate(summary: DQSummary) -> bytes | None:
    """Line plot of the quarantine rate per batch (or bucket of batches) over time."""
    if not summary.series:
        return None
    fig, ax = _figure(3.2)
    # ≤ max_points items (bucketed in SQL); naive UTC datetime64 for matplotlib's converter
    xs = np.array(
        [p.processed_at.astimezone(UTC).replace(tzinfo=None) for p in summary.series],
        dtype="datetime64[us]",
    )
    ys = [100 * p.quarantine_rate for p in summary.series]
    per = "per batch" if all(p.batches == 1 for p in summary.series) else "per bucket of batches"
    marker = "o" if len(xs) <= 60 else None
    ax.plot(xs, ys, color=_BAD, linewidth=1.5, marker=marker, ms=3, label=per)
    overall = f"overall {fmt_pct(summary.quarantine_rate)}"
    ax.axhline(100 * summary.quarantine_rate, color="grey", ls="--", lw=1, label=overall)
    ax.legend(loc="upper right", fontsize=8, frameon=False)
    locator = AutoDateLocator()  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=1))
    ax.set_ylim(bottom=0, top=max(max(ys) * 1.15, 1.0))
    ax.set_ylabel("quarantined / records in")
    ax.set_title("Quarantine rate over time (processed at, UTC)", loc="left")
    return _png(fig)


def _barh(
    labels: Sequence[str], values: Sequence[float], texts: Sequence[str], color: str
) -> tuple[Figure, Axes]:
    fig, ax = _figure(0.9 + 0.28 * len(labels))
    pos = list(range(len(labels)))
    bars = ax.barh(pos, values, color=color)
    ax.set_yticks(pos, [_label(x) for x in labels])
    ax.invert_yaxis()  # first item on top
    ax.grid(axis="y", visible=False)
    ax.bar_label(bars, labels=list(texts), padding=3, fontsize=8)
    ax.set_xlim(0, max(max(values, default=0.0) * 1.18, 1e-9))
    return fig, ax


def plot_rule_breakdown(summary: DQSummary) -> bytes | None:
    """Horizontal bars: failures per rule, most frequent first (top ``MAX_BARS``)."""
    items = list(summary.rule_counts.items())[:MAX_BARS]
    if not items:
        return None
    counts = [c for _, c in items]
    fig, ax = _barh([r for r, _ in items], counts, [f"{c:,}" for c in counts], _BAD)
    ax.set_xlabel("failing records (a record failing two rules counts under both)")
    more = len(summary.rule_counts) - len(items)
    ax.set_title(
        "Rule breakdown" + (f" (top {len(items)}, {more} more)" if more else ""), loc="left"
    )
    return _png(fig)


# Log-like axis for freshness: one stale device must not flatten all the others.
_TICKS = (
    (0.0, "0"),
    (1.0, "1s"),
    (10.0, "10s"),
    (60.0, "1m"),
    (600.0, "10m"),
    (3600.0, "1h"),
    (6 * 3600.0, "6h"),
    (86400.0, "1d"),
    (7 * 86400.0, "7d"),
    (30 * 86400.0, "30d"),
    (365 * 86400.0, "1y"),
)


def plot_entity_freshness(summary: DQSummary) -> bytes | None:
    """Horizontal bars: time since each entity's last event, relative to the newest event."""
    ents = summary.entities[:MAX_BARS]
    if not ents:
        return None
    worst = max(e.behind_seconds for e in ents)
    fig, ax = _barh(
        [e.entity for e in ents],
        [e.behind_seconds for e in ents],
        [fmt_duration(e.behind_seconds) for e in ents],
        _COLOR,
    )
    if worst > 600:
        ax.set_xscale("symlog", linthresh=1.0)
        ticks = [(v, t) for v, t in _TICKS if v <= worst * 1.5]
        ax.set_xticks([v for v, _ in ticks], [t for _, t in ticks])
        ax.set_xlim(0, worst * 4)  # room for the bar labels on a log axis
        scale = "log scale"
    else:
        scale = "seconds"
    newest = fmt_time(summary.entities_newest)
    ax.set_xlabel(f"time behind the newest event overall, {newest} ({scale})")
    col = summary.entity_column or "entity"
    total = summary.entity_count or len(ents)
    shown = f"stalest {len(ents)} of {total:,}" if total > len(ents) else f"all {total:,}"
    ax.set_title(_label(f"Freshness per {col} ({shown})", 80), loc="left")
    return _png(fig)


# -- HTML -----------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#222;
 background:#fafafa;max-width:1100px}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem}
.sub{color:#666;margin-top:0}
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:.7rem}
.tile{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.6rem .8rem}
.tile .k{font-size:.75rem;color:#666;text-transform:uppercase;letter-spacing:.04em}
.tile .v{font-size:1.05rem;font-weight:600;margin-top:.2rem;overflow-wrap:anywhere}
.tile.bad .v{color:#c0392b}
table{border-collapse:collapse;background:#fff;font-size:.85rem}
th,td{border:1px solid #ddd;padding:.3rem .6rem;text-align:right}
th{background:#f0f0f0}td.l,th.l{text-align:left;overflow-wrap:anywhere}
img{max-width:100%;background:#fff;border:1px solid #ddd;border-radius:6px}
.note{color:#666;font-style:italic}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _img(png: bytes | None, alt: str, empty: str) -> str:
    if png is None:
        return f'<p class="note">{_e(empty)}</p>'
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _table(data: TableData) -> str:
    """An HTML table; the first ``left`` columns are left-aligned. Every cell is escaped."""
    headers, rows, left = data

    def cls(i: int) -> str:
        return ' class="l"' if i < left else ""

    head = "".join(f"<th{cls(i)}>{_e(h)}</th>" for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f"<td{cls(i)}>{_e(c)}</td>" for i, c in enumerate(r)) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _tiles(summary: DQSummary) -> str:
    out: list[str] = []
    for label, value in overview(summary):
        bad = label in ("quarantined", "still quarantined") and summary.still_quarantined > 0
        out.append(
            f'<div class="tile{" bad" if bad else ""}"><div class="k">{_e(label)}</div>'
            f'<div class="v">{_e(value)}</div></div>'
        )
    return '<div class="tiles">' + "".join(out) + "</div>"


def render_html(summary: DQSummary) -> str:
    """The whole report as one HTML document (no external resources)."""
    s = summary
    if s.entity_count is None:
        freshness = f'<p class="note">skipped: {_e(s.entity_note or "not available")}</p>'
    else:
        plot = plot_entity_freshness(s)
        freshness = _img(plot, "per-entity freshness", "no rows in the time-series table")
        freshness += _table(entity_rows(s))
    rules = _table(rule_rows(s)) if s.rule_counts else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>DQ report: {_e(s.dataset)}</title><style>{_CSS}</style></head>
<body>
<h1>DQ report: {_e(s.dataset)}</h1>
<p class="sub">{_e(filters_text(s))} &middot; generated {_e(fmt_time(s.generated_at))}</p>
{_tiles(s)}
<h2>Quarantine rate over time</h2>
{_img(plot_quarantine_rate(s), "quarantine rate over time", "no batches")}
<h2>Rule breakdown</h2>
{_img(plot_rule_breakdown(s), "rule breakdown", "no rule failures")}
{rules}
<h2>Per-entity freshness</h2>
<p class="sub">{_e(s.timeseries_table or "")}</p>
{freshness}
<h2>Schema versions</h2>
{_table(version_rows(s))}
<h2>Last {len(s.recent_batches)} batches</h2>
{_table(batch_rows(s))}
</body></html>
"""


def write_html(summary: DQSummary, path: Path | str) -> Path:
    """Write the report as one self-contained HTML file; return its path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(summary), encoding="utf-8")
    return out
