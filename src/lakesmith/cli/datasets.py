"""``lakesmith quarantine show | replay`` and ``lakesmith schema history``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from lakesmith.cli.common import console, settings

if TYPE_CHECKING:
    import polars as pl

    from lakesmith.contracts import Contract
    from lakesmith.pipeline.dataset import Dataset

quarantine_app = typer.Typer(help="Inspect and replay quarantined records.", no_args_is_help=True)
schema_app = typer.Typer(help="Show a dataset's schema versions.", no_args_is_help=True)

_DATASET = typer.Argument(..., help="Dataset name (e.g. iot.telemetry) or a contract YAML path.")
_RULE = typer.Option(
    None, "--rule", help="Only records that failed this rule id (see the contract's rules)."
)


@quarantine_app.command("show")
def show(
    dataset: str = _DATASET,
    rule: str | None = _RULE,
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="Show at most this many records."),
    full: bool = typer.Option(False, "--full", help="Show whole payloads (default: one line)."),
) -> None:
    """Show quarantined records with their reasons and payloads.

    Each record: its source coordinates, when it was quarantined, every rule it failed with
    the message, and its payload (cut to one line unless --full).
    """
    from lakesmith.contracts import load_contract
    from lakesmith.pipeline.dataset import Dataset

    s = settings()
    contract = load_contract(dataset, s.state_dir)
    ds = Dataset(s, contract)
    try:
        if not ds.quarantine.exists():
            console.print(
                f"{escape(contract.name)}: no quarantine table yet (its worker has not run)",
                highlight=False,
            )
            return
        _show(ds, contract, rule, limit, full)
    finally:
        ds.close()


def _show(ds: Dataset, contract: Contract, rule: str | None, limit: int, full: bool) -> None:
    import polars as pl

    from lakesmith.core.columns import (
        MESSAGES,
        PAYLOAD,
        QUARANTINED_AT,
        RECORD_ID,
        RULE_IDS,
        SOURCE,
    )
    from lakesmith.maintenance.replay import check_rule

    # pass 1, the rule ids only (small): how many records, and is --rule known
    ids = _frames(ds, [RULE_IDS])
    rule_ids = (
        pl.concat(ids) if ids else pl.DataFrame({RULE_IDS: []}, {RULE_IDS: pl.List(pl.String)})
    )
    check_rule(contract, rule, rule_ids)
    total = rule_ids.height
    matching = total if rule is None else rule_ids.filter(_has_rule(rule)).height
    label = ds.quarantine.label
    if matching == 0:
        what = f" failed {rule!r}" if rule is not None else ""
        console.print(
            f"{escape(label)}: {total:,} records, none{escape(what)}"
            if total
            else f"{escape(label)}: empty, nothing is quarantined",
            highlight=False,
        )
        return
    # pass 2: the first ``limit`` matching records, whole
    columns = [SOURCE, RECORD_ID, QUARANTINED_AT, RULE_IDS, MESSAGES, PAYLOAD]
    shown: list[dict[str, Any]] = []
    for frame in _frames(ds, columns):
        if rule is not None:
            frame = frame.filter(_has_rule(rule))
        shown.extend(frame.head(limit - len(shown)).iter_rows(named=True))
        if len(shown) >= limit:
            break
    which = f" that failed {rule}" if rule is not None else ""
    console.print(
        Text(
            f"{label}: {matching:,} of {total:,} quarantined records{which}; "
            f"showing {len(shown):,}",
            style="bold",
        )
    )
    width = max(console.width - 11, 30)  # "  payload  " prefix
    for row in shown:
        _print_record(row, width, full)


def _frames(ds: Dataset, columns: list[str]) -> list[pl.DataFrame]:
    import polars as pl

    out = []
    for part in ds.quarantine.batches(columns):
        frame = pl.from_arrow(part)
        assert isinstance(frame, pl.DataFrame)
        out.append(frame)
    return out


def _has_rule(rule: str) -> pl.Expr:
    import polars as pl

    from lakesmith.core.columns import RULE_IDS

    return pl.col(RULE_IDS).list.contains(rule)


def payload_text(payload: bytes | None, width: int | None) -> str:
    """A payload as one line of text: undecodable bytes and control characters escaped,
    cut to ``width`` characters (None: whole) with the full size noted."""
    if payload is None:
        return "(no payload)"
    text = payload.decode("utf-8", "backslashreplace")
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    if width is None or len(text) <= width:
        return text
    note = f" … ({len(payload):,} bytes)"
    return text[: max(width - len(note), 10)] + note


def _print_record(row: dict[str, Any], width: int, full: bool) -> None:
    from lakesmith.core.columns import MESSAGES, PAYLOAD, QUARANTINED_AT, RULE_IDS, SOURCE
    from lakesmith.quality.report import fmt_time

    console.print()
    head = Text(str(row[SOURCE] or "?"), style="cyan")
    head.append(f"  quarantined {fmt_time(row[QUARANTINED_AT])}", style="dim")
    console.print(head, overflow="fold")
    rules: list[str] = row[RULE_IDS] or []
    messages: list[str] = row[MESSAGES] or []
    for i, rule_id in enumerate(rules):
        line = Text("  ")
        line.append(rule_id, style="yellow")
        if i < len(messages) and messages[i]:
            line.append(f": {messages[i]}")
        console.print(line)
    line = Text("  payload  ", style="dim")
    line.append(payload_text(row[PAYLOAD], None if full else width))
    console.print(line, overflow="fold")


@quarantine_app.command("replay")
def replay(dataset: str = _DATASET, rule: str | None = _RULE) -> None:
    """Re-validate quarantined records; move those that pass to silver.

    Uses the current contract (after a rule fix). Recovered records leave quarantine and
    count as recovered in the DQ report; the rest stay.
    """
    from lakesmith.contracts import load_contract
    from lakesmith.maintenance.replay import replay_quarantine

    s = settings()
    report = replay_quarantine(s, load_contract(dataset, s.state_dir), rule)
    console.print(
        f"examined {report.examined:,}: recovered {report.recovered:,} into silver, "
        f"{report.still_invalid:,} still invalid, {report.duplicates:,} duplicates",
        highlight=False,
    )


@schema_app.command("history")
def history(dataset: str = _DATASET) -> None:
    """Show every schema version of DATASET: fields added, when and where first seen."""
    from lakesmith.contracts import load_contract
    from lakesmith.quality.report import fmt_time
    from lakesmith.stores import meta
    from lakesmith.stores.postgres import connect
    from lakesmith.stores.schema_registry import SchemaRegistry

    s = settings()
    contract = load_contract(dataset, s.state_dir)
    with connect(s) as conn:
        meta.ensure_meta_schema(conn)
        versions = SchemaRegistry(conn, contract).versions()
    if not versions:
        console.print(
            f"no schema versions recorded for {escape(contract.name)} yet (run its worker first)",
            highlight=False,
        )
        return
    table = history_table(
        f"schema history of {contract.name} (policy: {contract.evolution})",
        [
            (
                v.version,
                [f["name"] for f in v.fields],
                fmt_time(v.first_seen_at),
                v.first_source or "",
            )
            for v in versions
        ],
    )
    console.print(table)


def history_table(title: str, versions: list[tuple[int, list[str], str, str]]) -> Table:
    """``(version, field names, first seen, first source)`` rows as a table that fits 80
    columns: the fields wrap between names, a long source URI folds."""
    table = Table(title=Text(title))
    table.add_column("version", justify="right", no_wrap=True)
    table.add_column("fields added", ratio=3, min_width=16)
    table.add_column("first seen", no_wrap=True)
    table.add_column("first source", ratio=2, overflow="fold", min_width=12)
    previous: set[str] = set()
    for version, names, seen, source in versions:
        added = [n for n in names if n not in previous] if previous else names
        previous = set(names)
        table.add_row(f"v{version}", Text(", ".join(added)), seen, Text(source))
    return table
