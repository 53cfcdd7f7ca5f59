"""The index built from the real entities domain: seed a small fleet (generator → ingest →
silver → gold), index it from the gold tables and silver page texts, and check hits carry
keys that exist in the gold dimensions. Keyword only (embedding every page is slow here;
the vector path is covered on the small fixture)."""

from __future__ import annotations

import uuid

import pytest

from lakesmith.config import Settings
from lakesmith.search.sources import index_entities, read_gold
from lakesmith.search.types import SearchQuery
from lakesmith.stores.search import SearchRepository

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_index_from_the_entities_gold_tables(stack_settings: Settings) -> None:
    from lakesmith.domains.entities.seed import seed

    seed(stack_settings, seed=11, devices=30, reports=3)
    config = stack_settings.search.model_copy(
        update={"collection_prefix": f"t{uuid.uuid4().hex[:8]}_", "embeddings": False}
    )
    settings = stack_settings.model_copy(update={"search": config})
    repo = SearchRepository(settings)
    try:
        reports = {r.collection.split("_")[1]: r for r in index_entities(settings)}
        devices = read_gold(settings, "dim_device", ["device_id", "device_key", "site_key"])
        models = read_gold(settings, "dim_model", ["model", "model_key"])
        documents = read_gold(settings, "dim_document", ["document_key", "doc_type"])
        assert reports["devices"].upserted == devices.height == repo.count("devices")
        assert reports["documents"].upserted >= documents.height > 0
        assert all(r.unchanged == 0 for r in reports.values())

        device = devices.row(0, named=True)
        hit = repo.search(SearchQuery(q=device["device_id"], mode="keyword")).hits[0]
        assert hit.id == device["device_id"] and hit.device_key == device["device_key"]
        assert hit.site_key == device["site_key"] and hit.model_key in set(models["model_key"])

        model = models.row(0, named=True)["model"]
        sheets = repo.search(
            SearchQuery(q=f"{model} datasheet", mode="keyword", doc_type="datasheet")
        ).hits
        assert sheets and sheets[0].model == model
        assert {h.document_key for h in sheets} <= set(documents["document_key"])

        again = index_entities(settings)
        assert all(r.upserted == 0 and r.deleted == 0 for r in again)
    finally:
        repo.drop()
