"""``lakesmith search index | query | drop``: the Typesense search index of the entities."""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from lakesmith.cli.common import console, settings

if TYPE_CHECKING:
    from lakesmith.config import Settings

app = typer.Typer(
    help="Search index of devices and PDF documents (Typesense; keyword, vector, hybrid).",
    no_args_is_help=True,
)
_COLLECTIONS = ("devices", "documents")


def _collections(value: str | None) -> list[str]:
    names = [c.strip() for c in (value or ",".join(_COLLECTIONS)).split(",") if c.strip()]
    unknown = [c for c in names if c not in _COLLECTIONS]
    if unknown or not names:
        raise typer.BadParameter(
            f"{', '.join(unknown) or value!r}: choose from devices, documents",
            param_hint="--only",
        )
    return names


def _typesense(cfg: Settings) -> Settings:
    """``cfg`` once Typesense answers (else the one-line error and its fix), with no log
    line per request (httpx logs each at INFO)."""
    import logging

    from lakesmith.stores.search import typesense_health

    logging.getLogger("httpx").setLevel(logging.WARNING)
    typesense_health(cfg)
    return cfg


@app.command()
def index(
    only: str | None = typer.Option(None, "--only", help="devices, documents (default both)."),
) -> None:
    """Bring the index in step with the entities gold tables.

    New and changed entities are embedded and upserted, deleted ones removed, unchanged
    ones skipped; run it after each gold rebuild of the entities model.
    """
    from lakesmith.search.sources import index_entities

    cfg = _typesense(settings())
    names = tuple(_collections(only))
    reports = index_entities(cfg, names, progress=lambda m: console.print(f"  {m}", end="\r"))
    table = Table("collection", "documents", "upserted", "deleted", "unchanged", "embed s",
                  "upsert s", "docs/s")  # fmt: skip
    for r in reports:
        rate = r.upserted / r.seconds if r.seconds else 0.0
        table.add_row(
            r.collection, f"{r.documents:,}", f"{r.upserted:,}", f"{r.deleted:,}",
            f"{r.unchanged:,}", f"{r.embed_s:.1f}", f"{r.upsert_s:.1f}", f"{rate:,.0f}",
        )  # fmt: skip
    console.print(table)
    for r in reports:
        if r.rebuilt:  # a new schema version, filled whole; the old one's vectors reused
            console.print(
                f"{r.collection}: rebuilt for a new schema version ({r.reused:,} embeddings "
                f"reused from the old one, {r.embedded:,} embedded)"
            )
        if r.warning:
            console.print(f"[yellow]warning:[/] {escape(r.warning)}")


@app.command()
def query(
    q: str = typer.Argument(..., help="What to search for."),
    mode: str = typer.Option("hybrid", help="keyword, vector or hybrid."),
    site: str | None = typer.Option(None, help="Site id or name."),
    manufacturer: str | None = typer.Option(None),
    model: str | None = typer.Option(None, help="Model id or name."),
    doc_type: str | None = typer.Option(None, "--doc-type", help="Documents of this type only."),
    date_from: str | None = typer.Option(None, "--from", help="YYYY-MM-DD (inclusive)."),
    date_to: str | None = typer.Option(None, "--to", help="YYYY-MM-DD (inclusive)."),
    limit: int = typer.Option(10, min=1, max=100),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Search devices and documents; each hit shows the warehouse keys it joins."""
    from pydantic import ValidationError

    from lakesmith.search.types import SearchQuery
    from lakesmith.stores.search import SearchRepository

    try:
        request = SearchQuery(
            q=q, mode=mode, site=site, manufacturer=manufacturer, model=model,
            doc_type=doc_type, limit=limit,
            date_from=dt.date.fromisoformat(date_from) if date_from else None,
            date_to=dt.date.fromisoformat(date_to) if date_to else None,
        )  # fmt: skip
    except (ValidationError, ValueError) as exc:
        first = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        raise typer.BadParameter(first) from None
    result = SearchRepository(_typesense(settings())).search(request)
    if as_json:
        console.print_json(json.dumps(result.model_dump(mode="json")))
        return
    table = Table("#", "collection", "id", "title", "score", "keys", title=f"{result.mode} search")
    for i, h in enumerate(result.hits, 1):
        keys = " ".join(
            f"{k}={v}"
            for k in ("device_key", "model_key", "site_key", "document_key")
            if (v := getattr(h, k)) is not None
        )
        table.add_row(str(i), h.collection, h.id[:24], escape(h.title), f"{h.score:.4g}", keys)
    console.print(table)
    for w in result.warnings:
        console.print(f"[yellow]warning:[/] {escape(w)}")
    console.print(f"{result.took_ms:.1f} ms, found {result.found}")


@app.command()
def drop(yes: bool = typer.Option(False, "--yes", help="Do not ask.")) -> None:
    """Delete both collections (every version) and their aliases."""
    from lakesmith.stores.search import SearchRepository

    if not yes:
        typer.confirm("Drop the devices and documents search collections?", abort=True)
    SearchRepository(_typesense(settings())).drop()
    console.print("dropped")
