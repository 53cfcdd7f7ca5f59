"""``lakesmith dq report``: data-quality reports from the per-batch statistics (DQ-3)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.markup import escape

from lakesmith.cli.common import console, settings

app = typer.Typer(help="Show data-quality reports.", no_args_is_help=True)


@app.callback()
def dq() -> None:
    """Data quality: what the workers validated, quarantined and how fresh the data is."""


def parse_since(value: str | None, now: datetime | None = None) -> datetime | None:
    """An ISO-8601 time (naive = UTC) or a duration back from now (``90m``, ``24h``, ``7d``)."""
    if value is None:
        return None
    from lakesmith.contracts.model import parse_duration

    text = value.strip()
    try:
        return (now or datetime.now(UTC)) - parse_duration(text)
    except ValueError:
        pass
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is neither an ISO-8601 time (2024-05-01T12:00:00Z) "
            "nor a duration (30m, 24h, 7d)",
            param_hint="--since",
        ) from None
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


@app.command()
def report(
    dataset: str = typer.Argument(
        ..., help="Dataset name (e.g. iot.telemetry) or a contract YAML path."
    ),
    html: Path | None = typer.Option(
        None, "--html", help="Also write a self-contained HTML report to this file."
    ),
    since: str | None = typer.Option(
        None,
        "--since",
        help="Only batches processed at or after this ISO-8601 time or this long ago (30m, 24h, 7d).",
    ),
    last: int | None = typer.Option(None, "--last", min=1, help="Only the last N batches."),
) -> None:
    """Show a dataset's data-quality report.

    Totals, quarantined records (and those a replay recovered), failures per rule, schema
    versions, per-entity freshness and the last batches.
    """
    import psycopg

    from lakesmith.contracts import load_contract
    from lakesmith.core.errors import LakesmithError
    from lakesmith.quality.report import filters_text, load_dq_summary, render_table
    from lakesmith.stores.meta import ensure_meta_schema
    from lakesmith.stores.postgres import connect

    cfg = settings()
    contract = load_contract(dataset, cfg.state_dir)
    since_t = parse_since(since)
    try:
        with connect(cfg) as conn:
            ensure_meta_schema(conn)
            summary = load_dq_summary(conn, contract, since=since_t, last=last)
    except psycopg.OperationalError as exc:
        raise LakesmithError(
            f"cannot reach PostgreSQL: {str(exc).strip().splitlines()[0]}",
            hint="start it with `lakesmith local up postgres` or set LAKESMITH__POSTGRES__DSN",
        ) from None
    if summary.batches == 0:
        name = f"[bold]{escape(contract.name)}[/]"
        if since is None and last is None:
            msg = f"No DQ batches recorded for {name} yet: start its worker and try again."
        else:
            msg = f"No DQ batches for {name} match ({escape(filters_text(summary))})."
        console.print(msg, highlight=False)
        return
    console.print(render_table(summary))
    if html is not None:
        from lakesmith.quality.report_html import write_html  # matplotlib only when needed

        path = write_html(summary, html)
        console.print(
            f"HTML report written to {escape(str(path))}", highlight=False, soft_wrap=True
        )
