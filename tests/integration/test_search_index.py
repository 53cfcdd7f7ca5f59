"""The indexer is an upsert sink: re-running does not duplicate, a changed entity is
re-sent alone, a deleted entity disappears, a schema version change fills a new collection
and swaps the alias."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import numpy as np
import polars as pl
import pytest

from lakesmith.config import Settings
from lakesmith.search.documents import EMBED_TEXT, device_documents, page_documents
from lakesmith.search.indexing import NO_EMBEDDING, SearchIndexer
from lakesmith.search.types import SearchQuery
from lakesmith.stores import search as store
from lakesmith.testing import search as fx

pytestmark = pytest.mark.integration


def settings_with(settings: Settings, **search: object) -> Settings:
    config = settings.search.model_copy(
        update={"collection_prefix": f"t{uuid.uuid4().hex[:8]}_", **search}
    )
    return settings.model_copy(update={"search": config})


def test_reindex_updates_deletes_and_never_duplicates(stack_settings: Settings) -> None:
    settings = settings_with(stack_settings)
    indexer = SearchIndexer(settings)
    repo = indexer.repo
    devices = fx.devices()
    try:
        first = indexer.sync("devices", device_documents(devices))
        assert (first.upserted, first.deleted, first.embedded) == (8, 0, 8)
        again = indexer.sync("devices", device_documents(devices))
        assert (again.upserted, again.unchanged, again.deleted) == (0, 8, 0)
        assert repo.count("devices") == 8

        # dev-004 retired, dev-008 deleted from gold
        changed = devices.filter(pl.col("device_id") != "dev-008").with_columns(
            status=pl.when(pl.col("device_id") == "dev-004")
            .then(pl.lit("retired"))
            .otherwise("status")
        )
        third = indexer.sync("devices", device_documents(changed))
        assert (third.upserted, third.deleted, third.unchanged) == (1, 1, 6)
        assert repo.count("devices") == 7
        hits = repo.search(SearchQuery(q="*", mode="keyword", limit=50)).hits
        assert "dev-008" not in {h.id for h in hits} and len(hits) == 7
        vec = repo.search(SearchQuery(q="VibraSense VB-90", mode="vector", limit=50)).hits
        assert "dev-008" not in {h.id for h in vec}
        dev4 = repo.client.collections[repo.alias("devices")].documents["dev-004"].retrieve()
        assert dev4["status"] == "retired" and len(dev4["embedding"]) == store.EMBEDDING_DIM

        # a tombstone (single delete) and a single upsert
        assert indexer.delete("devices", ["dev-001", "no-such-device"]) == 1
        indexer.upsert(
            "devices", device_documents(devices.filter(pl.col("device_id") == "dev-008"))
        )
        assert repo.count("devices") == 7
    finally:
        repo.drop()


def test_document_pages_are_chunked_and_removed_with_their_document(
    stack_settings: Settings,
) -> None:
    settings = settings_with(stack_settings, chunk_words=8)
    indexer = SearchIndexer(settings)
    try:
        docs = page_documents(fx.pages(), settings.search.chunk_words)
        report = indexer.sync("documents", docs)
        assert report.upserted == docs.height > len(fx.PAGES)  # pages of > 8 words split
        fewer = page_documents(
            fx.pages().filter(pl.col("doc_id") != "ds-VB-90"), settings.search.chunk_words
        )
        report = indexer.sync("documents", fewer)
        assert report.deleted == docs.height - fewer.height and report.upserted == 0
        hits = indexer.repo.search(SearchQuery(q="VibraSense", mode="keyword", limit=50)).hits
        assert all(h.doc_id != "ds-VB-90" for h in hits)
        assert indexer.repo.count("documents") == fewer.height
    finally:
        indexer.repo.drop()


def test_schema_version_change_swaps_the_alias(
    stack_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_with(stack_settings, embeddings=False)
    indexer = SearchIndexer(settings)
    repo = indexer.repo
    monkeypatch.setattr(store, "SCHEMA_VERSION", 1)
    try:
        first = indexer.sync("devices", device_documents(fx.devices()))
        assert first.warning and "embeddings" in first.warning
        assert repo.physical("devices").endswith("_v1")
        monkeypatch.setattr(store, "SCHEMA_VERSION", 2)
        second = indexer.sync("devices", device_documents(fx.devices()))
        assert second.rebuilt and second.upserted == 8  # the new collection is filled whole
        assert repo.client.aliases[repo.alias("devices")].retrieve()["collection_name"] == (
            repo.physical("devices", 2)
        )
        names = {c["name"] for c in repo.client.collections.retrieve()}
        assert repo.physical("devices", 1) not in names  # the old version is dropped
        assert repo.count("devices") == 8
        # indexed without embeddings: marked, so a run with them embeds every row
        exported = repo.indexed(repo.physical("devices", 2))
        assert exported["content_hash"].str.ends_with(NO_EMBEDDING).all()
        with_vectors = SearchIndexer(
            settings.model_copy(
                update={"search": settings.search.model_copy(update={"embeddings": True})}
            )
        )
        third = with_vectors.sync("devices", device_documents(fx.devices()))
        assert third.embedded == 8 and third.upserted == 8 and third.deleted == 0
    finally:
        repo.drop()


class CountingEmbedder:
    """The real model, counting the texts it embeds."""

    def __init__(self) -> None:
        from lakesmith.search.embeddings import load_embedder

        self.model = load_embedder()
        self.texts = 0

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        self.texts += len(texts)
        return np.asarray(self.model.embed(texts, batch_size))


def test_a_v1_index_is_rebuilt_with_integer_vectors_reused_not_re_embedded(
    stack_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An index of schema v1 (float embeddings) is rebuilt by the next sync: unchanged rows
    keep their vectors (converted to the integer form, not embedded again), a changed row
    is embedded, and vector search ranks as before."""
    settings = settings_with(stack_settings)
    current = store.SCHEMA_VERSION
    monkeypatch.setattr(store, "SCHEMA_VERSION", current - 1)
    model = CountingEmbedder()
    indexer = SearchIndexer(settings, embedder=model)  # type: ignore[arg-type]
    repo = indexer.repo
    docs = device_documents(fx.devices())
    try:
        old, _ = repo.prepare("devices")  # what v1 wrote: float vectors
        floats = model.model.embed(docs[EMBED_TEXT].to_list())
        repo.upsert(
            old,
            docs.drop(EMBED_TEXT).with_columns(
                pl.Series("embedding", floats).cast(pl.List(pl.Float32))
            ),
        )
        query = SearchQuery(q="vibration sensor on a pump", mode="vector", limit=8)
        before = [(h.id, round(h.score, 3)) for h in repo.search(query).hits]
        monkeypatch.setattr(store, "SCHEMA_VERSION", current)
        model.texts = 0
        changed = fx.devices().with_columns(
            status=pl.when(pl.col("device_id") == "dev-004")
            .then(pl.lit("retired"))
            .otherwise("status")
        )
        report = indexer.sync("devices", device_documents(changed))
        assert report.rebuilt and report.upserted == 8
        assert (report.reused, report.embedded, model.texts) == (7, 1, 1)
        assert repo.served("devices") == repo.physical("devices", current)
        stored = repo.client.collections[repo.alias("devices")].documents["dev-001"].retrieve()
        assert all(isinstance(x, int) for x in stored["embedding"])  # the integer form
        vector = np.array(stored["embedding"], dtype=np.float64)
        first = floats[docs["id"].to_list().index("dev-001")]
        cosine = vector @ first / (np.linalg.norm(vector) * np.linalg.norm(first))
        assert cosine > 0.99999
        after = [(h.id, round(h.score, 3)) for h in repo.search(query).hits]
        assert [i for i, _ in after] == [i for i, _ in before]
        unchanged = [hit for hit in before if hit[0] != "dev-004"]  # dev-004 was re-embedded
        assert [hit for hit in after if hit[0] != "dev-004"] == unchanged
    finally:
        repo.drop()
