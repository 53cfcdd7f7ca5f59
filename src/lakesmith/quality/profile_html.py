"""The HTML form of a file profile: one self-contained file, plots embedded as base64 PNG,
in the style of the DQ report (``quality.report_html``: its CSS, figure and escaping
helpers). Imports matplotlib: import it only when writing HTML."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lakesmith.quality.profile import QUANTILES, ColumnProfile, FileProfile, fmt_value
from lakesmith.quality.report_html import _CSS, _barh, _e, _figure, _img, _label, _png

_COLOR = "#3b6ea5"


def _histogram(col: ColumnProfile) -> bytes | None:
    hist = col.histogram()
    if hist is None:
        return None
    counts, edges = hist
    fig, ax = _figure(2.6)
    if col.type == "timestamp":
        starts = (edges[:-1]).astype("datetime64[us]")
        widths = np.diff(edges).astype("timedelta64[us]")
        ax.bar(starts, counts, width=widths, align="edge", color=_COLOR)
    else:
        ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color=_COLOR)
    ax.set_ylabel("rows (scaled from the sample)")
    ax.set_title(_label(f"{col.name}: distribution", 60), loc="left")
    return _png(fig)


def _top_values(col: ColumnProfile) -> bytes | None:
    top = col.frequent.top(15)
    if not top:
        return None
    fig, ax = _barh([v for v, _ in top], [c for _, c in top], [f"{c:,}" for _, c in top], _COLOR)
    ax.set_title(_label(f"{col.name}: most frequent values", 60), loc="left")
    return _png(fig)


def _stats(col: ColumnProfile) -> list[tuple[str, str]]:
    out = [
        ("column in the file", col.source),
        ("type (inferred)", col.type),
        ("null", f"{col.nulls:,} ({col.null_pct:.2f} %)"),
        ("not of the type", f"{col.invalid:,}"),
        ("distinct (≈)", f"{col.distinct_estimate:,}"),
    ]
    if col.type != "boolean":
        out += [("min", fmt_value(col.minimum)), ("max", fmt_value(col.maximum))]
    if col.mean is not None:
        out.append(("mean", fmt_value(col.mean)))
    q = col.quantiles()
    if q:
        out.append(
            ("quantiles", ", ".join(f"p{round(k * 100)} {fmt_value(v)}" for k, v in q.items()))
        )
    return out


def _kv(rows: list[tuple[str, str]]) -> str:
    body = "".join(
        f'<tr><th class="l">{_e(k)}</th><td class="l">{_e(v)}</td></tr>' for k, v in rows
    )
    return f"<table>{body}</table>"


def _overview(p: FileProfile) -> str:
    heads = ["column", "type", "null %", "distinct ≈", "min", "max", "mean", "p50", "top value"]
    rows = []
    for c in p.columns:
        top = c.frequent.top(1)
        q = c.quantiles()
        rows.append(
            [c.name, c.type, f"{c.null_pct:.2f}", f"{c.distinct_estimate:,}",
             fmt_value(c.minimum), fmt_value(c.maximum), fmt_value(c.mean),
             fmt_value(q.get(0.5)), f"{top[0][0]} ({top[0][1]:,})" if top else ""]
        )  # fmt: skip
    head = "".join(f'<th class="{"l" if i < 2 else ""}">{_e(h)}</th>' for i, h in enumerate(heads))
    body = "".join(
        "<tr>"
        + "".join(f'<td class="{"l" if i < 2 else ""}">{_e(v)}</td>' for i, v in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(p: FileProfile) -> str:
    dup = f"{p.duplicate_rows:,}" + ("" if p.duplicates_exact else " (≈)")
    tiles = [
        ("rows", f"{p.rows:,}"),
        ("columns", str(len(p.columns))),
        ("size", f"{p.size_bytes / 1e6:,.1f} MB"),
        ("duplicate rows", dup),
        ("format", p.format),
        ("profiled in", f"{p.seconds:.1f} s"),
    ]
    tile_html = (
        '<div class="tiles">'
        + "".join(
            f'<div class="tile"><div class="k">{_e(k)}</div><div class="v">{_e(v)}</div></div>'
            for k, v in tiles
        )
        + "</div>"
    )
    sections = []
    for c in p.columns:
        plot = _histogram(c) if c.type in ("long", "double", "timestamp") else None
        tops = _top_values(c)
        sections.append(
            f"<h2>{_e(c.name)}</h2>{_kv(_stats(c))}"
            + (f"<p>{_img(plot, c.name + ' distribution', '')}</p>" if plot else "")
            + (f"<p>{_img(tops, c.name + ' top values', '')}</p>" if tops else "")
        )
    qs = ", ".join(f"p{round(q * 100)}" for q in QUANTILES)
    method = (
        "One pass in batches. Distinct counts: HyperLogLog (≈0.8 % error). Quantiles "
        f"({qs}) and histograms: a uniform sample of up to 50,000 values per column. Top "
        "values: Misra-Gries counters (lower bounds). Duplicate rows: identical raw records"
        + (", exact." if p.duplicates_exact else ", estimated by HyperLogLog (≈0.4 %).")
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Profile: {_e(p.path.name)}</title><style>{_CSS}</style></head>
<body>
<h1>Profile: {_e(p.path.name)}</h1>
<p class="sub">{_e(str(p.path))}</p>
{tile_html}
<h2>Columns</h2>
{_overview(p)}
<p class="note">{_e(method)}</p>
{"".join(sections)}
</body></html>
"""


def write_html(profile: FileProfile, path: Path | str) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(profile), encoding="utf-8")
    return out
