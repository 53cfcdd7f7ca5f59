"""What the index is built from: the entities star schema in the lake (``dim_device``,
``dim_model``, ``dim_site``, ``dim_document``, written by ``gold.batch.rebuild``) and, for
the page text the star does not keep, the ``entities.documents`` silver table (read with
``gold.batch.read_silver``, the same reader the gold rebuild uses; never the files).

``device_frame`` / ``page_frame`` return ``search.documents``' input columns; a search hit
therefore carries exactly the keys of the gold rows it was built from."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import polars as pl

from lakesmith.core.errors import LakesmithError

if TYPE_CHECKING:
    from lakesmith.config import Settings
    from lakesmith.search.indexing import IndexReport

NAMESPACE = "entities"
DOCUMENTS_DATASET = "entities.documents"
_SEED_HINT = (
    "build it first: lakesmith demo entities (or POST /v1/seed), then lakesmith search index"
)


def read_gold(settings: Settings, table: str, columns: list[str] | None = None) -> pl.DataFrame:
    """A gold table of the entities model from the lake (an error naming the fix when it
    does not exist yet)."""
    from lakesmith.stores.lake import open_table

    lake = open_table(settings, settings.lake.format, NAMESPACE, table)
    if not lake.exists():
        raise LakesmithError(f"gold table {NAMESPACE}.{table} does not exist", hint=_SEED_HINT)
    return lake.scan(columns)


def _split(col: str, sep: str) -> pl.Expr:
    return (
        pl.col(col)
        .str.split(sep)
        .list.eval(pl.element().str.strip_chars())
        .list.eval(pl.element().filter(pl.element() != ""))
    )


def device_frame(settings: Settings) -> pl.DataFrame:
    """Every device of ``dim_device`` with its model's and site's names (type 1: the
    current rows; a deleted device is not in the table, so the indexer deletes it)."""
    models = read_gold(
        settings, "dim_model", ["model_key", "name", "manufacturer", "sensor_types"]
    ).rename({"name": "model_name"})
    sites = read_gold(settings, "dim_site", ["site_key", "name", "city", "country"]).rename(
        {"name": "site_name"}
    )
    devices = read_gold(
        settings,
        "dim_device",
        ["device_id", "device_key", "model_key", "site_key", "manufacturer_key", "model",
         "site", "install_date", "status", "tags"],
    )  # fmt: skip
    return (
        devices.join(models, on="model_key", how="left")
        .join(sites, on="site_key", how="left")
        .with_columns(
            _split("tags", ","),
            _split("sensor_types", ";"),
            pl.col("install_date").dt.date(),
        )
    )


def page_frame(settings: Settings) -> pl.DataFrame:
    """One row per PDF page: ``dim_document``'s keys and type joined with the page texts
    of the current ``entities.documents`` silver rows (``doc_id`` is the SHA-256)."""
    from lakesmith.formats.pdf import page_rows
    from lakesmith.gold.batch import read_silver

    docs = read_gold(
        settings,
        "dim_document",
        ["sha256", "document_key", "doc_type", "title", "file_name", "model_key",
         "device_key", "site_key", "manufacturer_key", "document_date", "received_at"],
    )  # fmt: skip
    silver = read_silver(settings, [DOCUMENTS_DATASET], required=False).get(DOCUMENTS_DATASET)
    if silver is None or docs.is_empty():
        return pl.DataFrame()
    texts = (
        silver.select("sha256", "text")
        .filter(pl.col("text").is_not_null())
        .unique("sha256", keep="last")
    )
    models = read_gold(settings, "dim_model", ["model_key", "model", "name", "manufacturer"])
    sites = read_gold(settings, "dim_site", ["site_key", "site", "name"])
    devices = read_gold(settings, "dim_device", ["device_key", "device_id"])
    joined = (
        docs.join(texts, on="sha256", how="inner")
        .join(models.rename({"name": "model_name"}), on="model_key", how="left")
        .join(sites.rename({"name": "site_name"}), on="site_key", how="left")
        .join(devices, on="device_key", how="left")
        .with_columns(
            pl.col("sha256").alias("doc_id"),
            pl.coalesce("title", "file_name").alias("title"),
            pl.coalesce("document_date", "received_at").dt.date().alias("date"),
        )
    )
    return page_rows(joined)


def index_entities(
    settings: Settings,
    collections: tuple[str, ...] = ("devices", "documents"),
    progress: Callable[[str], None] | None = None,
) -> list[IndexReport]:
    """Bring the search index in step with the entities gold tables (the job to run after
    ``gold.batch.rebuild`` of the entities model: ``lakesmith search index``)."""
    from lakesmith.search.documents import device_documents, page_documents
    from lakesmith.search.indexing import SearchIndexer

    indexer = SearchIndexer(settings, progress=progress)
    reports: list[IndexReport] = []
    if "devices" in collections:
        reports.append(indexer.sync("devices", device_documents(device_frame(settings))))
    if "documents" in collections:
        pages = page_frame(settings)
        chunks = page_documents(pages, settings.search.chunk_words) if pages.height else None
        if chunks is not None:
            reports.append(indexer.sync("documents", chunks))
    return reports
