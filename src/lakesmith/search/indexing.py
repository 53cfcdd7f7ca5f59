"""The indexer: keeps a collection equal to a frame of documents — an upsert sink with
deletes, idempotent and incremental.

``sync(name, docs)`` compares ``docs`` (from ``search.documents``) with what the collection
holds (``id`` + ``content_hash``, exported in one request): new and changed rows are
embedded and upserted in batches (Typesense ``import`` with ``action=upsert``, ids = the
stable entity ids, so re-running never duplicates), ids the frame no longer has are
deleted (an entity deleted from silver/gold disappears), unchanged rows cost nothing. When
the collection's schema version changed, the new version is filled completely and the
alias swapped afterwards (readers keep the old one meanwhile); rows the old version holds
unchanged (same ``id`` and ``content_hash``) take their embedding from it instead of being
embedded again (embedding a large index takes hours)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from lakesmith.core.logging import get_logger
from lakesmith.search.documents import EMBED_TEXT
from lakesmith.search.types import CollectionName, EmbeddingsUnavailableError
from lakesmith.stores.search import SearchRepository, typesense_client
from lakesmith.stores.search_schema import stored_vectors

if TYPE_CHECKING:
    from lakesmith.config import Settings
    from lakesmith.search.embeddings import Embedder

log = get_logger(__name__)
NO_EMBEDDING = ":noemb"  # content_hash suffix of a row indexed without its embedding
SLICE = 2048  # rows embedded and upserted at a time (bounded memory, visible progress)


@dataclass
class IndexReport:
    collection: str
    documents: int = 0  # in the frame
    upserted: int = 0
    deleted: int = 0
    unchanged: int = 0
    embedded: int = 0
    reused: int = 0  # embeddings taken from the old schema version (a rebuild)
    embed_s: float = 0.0
    upsert_s: float = 0.0
    rebuilt: bool = False  # a new schema version was filled and the alias swapped
    warning: str | None = None

    @property
    def seconds(self) -> float:
        return self.embed_s + self.upsert_s


class SearchIndexer:
    """Writes entity documents into the search index (see the module doc).

    ``embedder``: None loads all-MiniLM-L6-v2 on first need when ``search.embeddings`` is
    on; without the extra the rows are indexed without embeddings (keyword search works;
    their hash is marked so a later run with the extra embeds them)."""

    def __init__(
        self,
        settings: Settings,
        repo: SearchRepository | None = None,
        embedder: Embedder | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.repo = repo or SearchRepository(
            settings, embedder, typesense_client(settings, settings.search.index_timeout_s)
        )
        self._embedder = embedder
        self._embed_error: str | None = (
            None if settings.search.embeddings else "search.embeddings is off"
        )
        self._say = progress or (lambda _msg: None)

    def _get_embedder(self) -> Embedder | None:
        if self._embedder is None and self._embed_error is None:
            from lakesmith.search.embeddings import load_embedder

            try:
                self._embedder = load_embedder(
                    self.settings.search.blas_threads, self.settings.search.embed_backend
                )
            except EmbeddingsUnavailableError as exc:
                self._embed_error = str(exc)
                log.warning("search_index_without_embeddings", reason=str(exc))
        return self._embedder

    def sync(self, name: CollectionName, docs: pl.DataFrame) -> IndexReport:
        """Make collection ``name`` hold exactly ``docs`` (see the module doc)."""
        collection, rebuild = self.repo.prepare(name)
        report = IndexReport(collection, documents=docs.height, rebuilt=rebuild)
        embedder = self._get_embedder()
        if embedder is None:
            report.warning = f"indexed without embeddings: {self._embed_error}"
            docs = docs.with_columns(pl.col("content_hash") + NO_EMBEDDING)
        existing = self.repo.indexed(collection)
        changed = docs.join(existing, on=["id", "content_hash"], how="anti")
        gone = existing.join(docs.select("id"), on="id", how="anti")["id"].to_list()
        report.unchanged = docs.height - changed.height
        served = self.repo.served(name) if rebuild else None
        if embedder is not None and served is not None and changed.height:
            started = time.perf_counter()  # counted as embedding time: it replaces it
            old = self.repo.vectors(served)
            changed = changed.join(old, on=["id", "content_hash"], how="left")
            report.embed_s += time.perf_counter() - started
        self._write(name, collection, changed, embedder, report)
        started = time.perf_counter()
        report.deleted = self.repo.delete(collection, gone)
        report.upsert_s += time.perf_counter() - started
        if rebuild:
            self.repo.activate(name)
        log.info(
            "search_indexed", collection=collection, upserted=report.upserted,
            deleted=report.deleted, unchanged=report.unchanged, embed_s=round(report.embed_s, 2),
            upsert_s=round(report.upsert_s, 2),
        )  # fmt: skip
        return report

    def upsert(self, name: CollectionName, docs: pl.DataFrame) -> IndexReport:
        """Insert or replace ``docs`` only (nothing else deleted): for single changes."""
        collection, _ = self.repo.prepare(name)
        report = IndexReport(collection, documents=docs.height)
        embedder = self._get_embedder()
        if embedder is None:
            docs = docs.with_columns(pl.col("content_hash") + NO_EMBEDDING)
        self._write(name, collection, docs, embedder, report)
        return report

    def delete(self, name: CollectionName, ids: Sequence[str]) -> int:
        """Remove documents by id (a tombstone): returns how many existed."""
        collection, _ = self.repo.prepare(name)
        return self.repo.delete(collection, list(ids))

    def _write(
        self,
        name: CollectionName,
        collection: str,
        rows: pl.DataFrame,
        embedder: Embedder | None,
        report: IndexReport,
    ) -> None:
        for start in range(0, rows.height, SLICE):
            part = rows.slice(start, SLICE)
            if embedder is not None:
                t0 = time.perf_counter()
                kept = (
                    part.filter(pl.col("embedding").is_not_null()) if "embedding" in part else None
                )
                if kept is not None:  # a rebuild: the old version's vectors, where unchanged
                    part = part.filter(pl.col("embedding").is_null()).drop("embedding")
                    report.reused += kept.height
                if part.height:
                    texts = part[EMBED_TEXT].to_list()
                    vectors = embedder.embed(texts, self.settings.search.embed_batch)
                    part = part.with_columns(stored_vectors(vectors))
                    report.embedded += part.height
                if kept is not None:
                    part = pl.concat([kept, part], how="diagonal_relaxed") if part.height else kept
                report.embed_s += time.perf_counter() - t0
            t0 = time.perf_counter()
            report.upserted += self.repo.upsert(collection, part.drop(EMBED_TEXT))
            report.upsert_s += time.perf_counter() - t0
            self._say(f"{name}: {min(start + SLICE, rows.height):,}/{rows.height:,} written")
