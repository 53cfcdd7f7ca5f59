"""The Typesense search index: the client, the ``devices`` and ``documents`` collections
(versioned behind aliases), batch upserts and deletes, and the queries.

Collections are versioned: the data lives in ``devices_v<N>`` and is read through the alias
``devices``. A schema change bumps ``SCHEMA_VERSION``: the indexer fills the new collection
while the alias still serves the old one, then swaps the alias and drops the old (the
Typesense way to change a schema without downtime). The rebuild reuses the old
collection's embeddings for unchanged rows (``vectors``): only new or changed rows are
embedded again."""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import polars as pl
import typesense

from lakesmith.config import Settings
from lakesmith.core.errors import SinkError
from lakesmith.core.logging import get_logger
from lakesmith.search import ranking
from lakesmith.search.result_cache import ResultCache
from lakesmith.search.types import (
    COLLECTIONS,
    CollectionName,
    EmbeddingsUnavailableError,
    SearchError,
    SearchQuery,
    SearchResult,
)
from lakesmith.stores.search_generation import IndexGeneration
from lakesmith.stores.search_http import MultiSearchHttp, export_vectors
from lakesmith.stores.search_schema import EMBEDDING_DIM as EMBEDDING_DIM  # re-exported
from lakesmith.stores.search_schema import FIELDS, HIGHLIGHT, QUERY_BY

if TYPE_CHECKING:
    from lakesmith.search.embeddings import Embedder
    from lakesmith.search.query_batch import QueryEmbedder

log = get_logger(__name__)
# the Typesense client sends with httpx, which logs every request at INFO: in the API that
# is a log line per search (and the query text); warnings and errors still show
logging.getLogger("httpx").setLevel(logging.WARNING)

# 2: embeddings stored as integers (``search_schema.EMBEDDING_SCALE``); a v1 index is
# rebuilt by the next ``sync`` with its vectors converted, not re-embedded
SCHEMA_VERSION = 2
DELETE_BATCH = 500  # ids per delete-by-filter request


def typesense_health(settings: Settings, timeout_s: float = 2.0) -> None:
    """Nothing when Typesense answers ``/health`` with ok; else ``ServiceUnavailableError``
    naming the address and the fix (before any command talks to it)."""
    import httpx

    from lakesmith.core.errors import ServiceUnavailableError

    url = settings.effective_typesense_url().rstrip("/") + "/health"
    try:
        ok = httpx.get(url, timeout=timeout_s).json().get("ok") is True
        reason = "not healthy"
    except (httpx.HTTPError, ValueError) as exc:
        ok, reason = False, type(exc).__name__
    if not ok:
        raise ServiceUnavailableError(
            f"Typesense is not reachable at {settings.effective_typesense_url()} ({reason})",
            hint="start it with 'lakesmith local up typesense', or set LAKESMITH__TYPESENSE__URL",
        )


def typesense_client(settings: Settings, timeout_s: float = 10.0) -> Any:
    """A ``typesense.Client`` for the configured node (the local server when unset)."""
    url = urlsplit(settings.effective_typesense_url())
    default_port = 443 if url.scheme == "https" else 8108
    config: Any = {
        "api_key": settings.effective_typesense_api_key(),
        "nodes": [{"host": url.hostname, "port": url.port or default_port, "protocol": url.scheme}],
        "connection_timeout_seconds": timeout_s,
    }
    return typesense.Client(config)


class SearchRepository:
    """Reads and writes of the search index; ``search`` answers a ``SearchQuery``.

    The query embedder (vector and hybrid modes) is loaded on first use; without the
    ``embeddings`` extra (or with ``search.embeddings`` off) ``vector`` raises
    ``EmbeddingsUnavailableError`` and ``hybrid`` runs as ``keyword`` with a warning."""

    def __init__(
        self, settings: Settings, embedder: Embedder | None = None, client: Any = None
    ) -> None:
        self.settings = settings
        self.config = settings.search
        self.client = client or typesense_client(settings, self.config.timeout_s)
        self._multi_search = MultiSearchHttp(settings, self.config.timeout_s)
        self._embedder = embedder
        self._queries: QueryEmbedder | None = None
        self._queries_lock = threading.Lock()
        self._embed_error: str | None = None
        self._ensured = False
        self._results: ResultCache[SearchResult] | None = (
            ResultCache(self.config.cache_ttl_s) if self.config.cache_ttl_s else None
        )
        # cached answers are keyed by the index's generation, which every write changes
        self.generation = IndexGeneration(
            self.client,
            f"{self.config.collection_prefix}search_generation",
            settings.effective_typesense_url(),
            self.config.generation_check_s,
        )

    # names ------------------------------------------------------------------------------

    def alias(self, name: CollectionName) -> str:
        return f"{self.config.collection_prefix}{name}"

    def physical(self, name: CollectionName, version: int | None = None) -> str:
        """The collection behind the alias for schema ``version`` (default: the current)."""
        return f"{self.alias(name)}_v{SCHEMA_VERSION if version is None else version}"

    def served(self, name: CollectionName) -> str | None:
        """The collection the alias points at (None: no alias yet)."""
        return self._aliased(name)

    def _aliased(self, name: CollectionName) -> str | None:
        try:
            return str(self.client.aliases[self.alias(name)].retrieve()["collection_name"])
        except typesense.exceptions.ObjectNotFound:
            return None

    def _exists(self, collection: str) -> bool:
        try:
            self.client.collections[collection].retrieve()
        except typesense.exceptions.ObjectNotFound:
            return False
        return True

    # schema -----------------------------------------------------------------------------

    def prepare(self, name: CollectionName) -> tuple[str, bool]:
        """The collection to write ``name`` into and whether it is a rebuild (the alias
        serves an older schema version: fill the returned collection completely, then
        ``activate``). Idempotent; a first run creates the collection and the alias."""
        current = self.physical(name)
        if not self._exists(current):
            self.client.collections.create({"name": current, "fields": FIELDS[name]})
            log.info("search_collection_created", collection=current)
        served = self._aliased(name)
        if served is None:
            self.client.aliases.upsert(self.alias(name), {"collection_name": current})
            return current, False
        return current, served != current

    def activate(self, name: CollectionName) -> None:
        """Point the alias at the current schema version and drop what it served before."""
        current = self.physical(name)
        served = self._aliased(name)
        if served == current:
            return
        self.client.aliases.upsert(self.alias(name), {"collection_name": current})
        self._written()
        if served is not None and self._exists(served):
            self.client.collections[served].delete()
        log.info("search_alias_swapped", alias=self.alias(name), old=served, new=current)

    def ensure_collections(self) -> None:
        """Both collections and their aliases exist (for readers before the first index)."""
        for name in COLLECTIONS:
            self.prepare(name)

    def drop(self) -> None:
        """Drop the aliases and every version of both collections (tests, ``reset``)."""
        for name in COLLECTIONS:
            served = self._aliased(name)
            if served is not None:
                self.client.aliases[self.alias(name)].delete()
            for c in self.client.collections.retrieve():
                if c["name"].startswith(f"{self.alias(name)}_v"):
                    self.client.collections[c["name"]].delete()
        self._written()  # leaves <prefix>search_generation: readers see the drop

    def _written(self) -> None:
        """After a write: a new index generation (every process's cached answers go, other
        processes' within ``search.generation_check_s``), and this repository's cache."""
        self.generation.bump()
        if self._results is not None:
            self._results.clear()

    # writes -----------------------------------------------------------------------------

    def upsert(self, collection: str, docs: pl.DataFrame) -> int:
        """Insert or replace ``docs`` (one row a document, ``id`` the stable entity id) in
        batches of ``search.import_batch``; null columns are left out. Raises ``SinkError``
        naming the first rejected document."""
        written = 0
        for start in range(0, docs.height, self.config.import_batch):
            part = docs.slice(start, self.config.import_batch)
            buf = io.BytesIO()
            part.write_ndjson(buf)
            answer = self.client.collections[collection].documents.import_(
                buf.getvalue().decode(), {"action": "upsert"}
            )
            results = pl.read_ndjson(io.StringIO(answer)) if answer.strip() else pl.DataFrame()
            if "success" in results.columns and not results["success"].all():
                bad = results.filter(~pl.col("success")).row(0, named=True)
                raise SinkError(
                    f"search index rejected a document of {collection}: {bad.get('error')}",
                    hint="check the indexed frame's columns and types against the schema",
                )
            written += part.height
            self._written()  # each batch: readers see a long re-index as it goes
        return written

    def delete(self, collection: str, ids: Sequence[str]) -> int:
        """Delete documents by id (missing ids are ignored); returns the number deleted."""
        deleted = 0
        for start in range(0, len(ids), DELETE_BATCH):
            chunk = ",".join(ranking.quote(i) for i in ids[start : start + DELETE_BATCH])
            answer = self.client.collections[collection].documents.delete(
                {"filter_by": f"id:[{chunk}]"}
            )
            deleted += int(answer.get("num_deleted", 0))
        if ids:
            self._written()
        return deleted

    def indexed(self, collection: str) -> pl.DataFrame:
        """``id`` and ``content_hash`` of every document in ``collection``."""
        text = self.client.collections[collection].documents.export(
            {"include_fields": "id,content_hash"}
        )
        schema = {"id": pl.String, "content_hash": pl.String}
        if not text.strip():
            return pl.DataFrame(schema=schema)
        return pl.read_ndjson(io.StringIO(text), schema=schema)

    def vectors(self, collection: str) -> pl.DataFrame:
        """``id``, ``content_hash`` and stored ``embedding`` of ``collection``'s documents
        (``search_http.export_vectors``: streamed, converted to the integer form)."""
        return export_vectors(self.settings, collection, self.config.index_timeout_s)

    def count(self, name: CollectionName) -> int:
        return int(self.client.collections[self.alias(name)].retrieve()["num_documents"])

    # reads ------------------------------------------------------------------------------

    def _query_vector(self, q: str) -> str:
        """The ``vector_query`` literal of ``q``'s embedding (cached, and batched with the
        queries of concurrent searches: ``search.query_batch``)."""
        with self._queries_lock:
            if self._queries is None:
                self._queries = self._query_embedder()
            queries = self._queries
        return queries.literal(q)

    def _query_embedder(self) -> QueryEmbedder:
        from lakesmith.search.query_batch import QueryEmbedder

        if self._embedder is None:
            if self._embed_error is not None:
                raise EmbeddingsUnavailableError(self._embed_error)
            from lakesmith.search.embeddings import load_embedder

            try:
                if not self.config.embeddings:
                    raise EmbeddingsUnavailableError(
                        "vector search is off (search.embeddings = false)",
                        hint="set LAKESMITH__SEARCH__EMBEDDINGS=true (needs the embeddings extra)",
                    )
                self._embedder = load_embedder(self.config.blas_threads, self.config.embed_backend)
            except EmbeddingsUnavailableError as exc:
                self._embed_error = str(exc)
                raise
        return QueryEmbedder(self._embedder, max_batch=self.config.embed_batch)

    def search(self, query: SearchQuery) -> SearchResult:
        """Run ``query`` on its collections in one ``multi_search`` request; with
        ``search.cache_ttl_s`` a repeated query is answered from the result cache, keyed
        by the index generation (an answer from before any process's write is not served
        ``search.generation_check_s`` after it)."""
        if self._results is None:
            return self._search(query, None)
        started = time.perf_counter()
        key = (self.generation.current(), query)  # read before searching: an answer
        hit = self._results.get(key)  # racing a write is filed under the old generation
        if hit is not None:
            took = round((time.perf_counter() - started) * 1000, 2)
            return hit.model_copy(update={"took_ms": took})
        result = self._search(query, key[0])
        self._results.put(key, result)
        return result

    def _search(self, query: SearchQuery, generation: str | None) -> SearchResult:
        started = time.perf_counter()
        if not self._ensured:  # an empty index answers empty, not "not found"
            self.ensure_collections()
            self._ensured = True
        mode = query.mode
        warnings: list[str] = []
        vector: str | None = None
        if mode != "keyword":
            try:
                vector = self._query_vector(query.q)
            except EmbeddingsUnavailableError as exc:
                if mode == "vector":
                    raise
                mode = "keyword"
                warnings.append(f"hybrid search ran as keyword search: {exc.message}")
        collections = ranking.searched_collections(query)
        depth = query.page * query.limit
        fetch = max(depth, self.config.candidates) if mode == "hybrid" else depth
        searches: list[dict[str, Any]] = []
        plan: list[tuple[CollectionName, str]] = []
        # hybrid: no re-search with words dropped (the vector leg finds partial matches)
        drop = (
            {"drop_tokens_threshold": 0}
            if mode == "hybrid" and self.config.hybrid_all_words
            else {}
        )
        for name in collections:
            common: dict[str, Any] = {
                "collection": self.alias(name),
                "per_page": fetch,
                "exclude_fields": "embedding,content_hash",
            }
            if where := ranking.filter_by(query, name):
                common["filter_by"] = where
            if mode in ("keyword", "hybrid"):
                fields, weights = QUERY_BY[name]
                searches.append(
                    {
                        **common,
                        "q": query.q,
                        "query_by": fields,
                        "query_by_weights": weights,
                        "num_typos": self.config.num_typos,
                        **drop,
                        "highlight_fields": HIGHLIGHT[name],
                        "highlight_affix_num_tokens": 12,
                    }
                )
                plan.append((name, "keyword"))
            if vector is not None and mode in ("vector", "hybrid"):
                searches.append(
                    {**common, "q": "*", "vector_query": f"embedding:([{vector}], k:{fetch})"}
                )
                plan.append((name, "vector"))
        common_params: dict[str, Any] = {}
        if generation is not None:  # Typesense's cache, keyed by the whole request: the
            # generation (a parameter Typesense ignores) keeps answers of older ones out
            common_params = {
                "use_cache": "true",
                "cache_ttl": self.config.cache_ttl_s,
                "x_lakesmith_generation": generation,
            }
        answers = self._multi_search.perform({"searches": searches}, common_params)["results"]
        raw: dict[tuple[CollectionName, str], list[dict[str, Any]]] = {}
        found: dict[str, int] = {}
        for (name, kind), answer in zip(plan, answers, strict=True):
            if "error" in answer:
                raise SearchError(f"search on {name} failed: {answer['error']}")
            raw[(name, kind)] = answer.get("hits", [])
            found[name] = max(found.get(name, 0), int(answer.get("found", 0)))
        rankings: list[list[ranking.Scored]] = []
        for name in collections:
            kw, vec = raw.get((name, "keyword"), []), raw.get((name, "vector"), [])
            if mode == "keyword":
                rankings.append(ranking.keyword_hits(name, kw))
            elif mode == "vector":
                rankings.append(ranking.vector_hits(name, vec))
            else:
                alpha, k = self.config.hybrid_alpha, self.config.rrf_k
                rankings.append(ranking.fuse(name, kw, vec, alpha, k))
        return SearchResult(
            mode=mode,
            hits=ranking.merge(rankings, query),
            found=found,
            took_ms=round((time.perf_counter() - started) * 1000, 2),
            warnings=warnings,
        )
