"""Turning Typesense answers into ranked ``SearchHit``s: hit mapping, filter building with
quoted values, and reciprocal rank fusion for hybrid search.

Typesense 0.24 (the local server) runs a ``vector_query`` only with ``q=*``, so hybrid
search is our own reciprocal rank fusion (RRF) of a keyword and a vector ranking fetched
in one ``multi_search`` request: ``score = (1-alpha)/(k + rank_kw) + alpha/(k + rank_vec)``
(a ranking a hit is absent from adds nothing). Newer Typesense has the same fusion built in
(``query_by`` with an embedding field); ours works on both."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time
from typing import Any

from lakesmith.search.types import CollectionName, SearchHit, SearchQuery

SNIPPET_CHARS = 240


def quote(value: str) -> str:
    """A filter value as a Typesense literal: in backticks, so ``&&``, ``||``, ``:``,
    ``,``, ``[`` and ``]`` in it are plain characters. A backtick cannot be escaped, so
    ``SearchQuery`` refuses values with one; this re-checks (defence in depth)."""
    if "`" in value:
        raise ValueError("a filter value must not contain a backtick (`)")
    return f"`{value}`"


def day_seconds(day: date, end: bool = False) -> int:
    """Epoch seconds (UTC) of the start (``end``: the last second) of ``day``."""
    moment = datetime.combine(day, time.max if end else time.min, tzinfo=UTC)
    return int(moment.timestamp())


def filter_by(query: SearchQuery, collection: CollectionName) -> str:
    """The ``filter_by`` expression of the query's filters for ``collection`` (ANDed)."""
    parts: list[str] = []
    if query.site is not None:
        v = quote(query.site)
        parts.append(f"(site:={v} || site_name:={v})")
    if query.model is not None:
        v = quote(query.model)
        parts.append(f"(model:={v} || model_name:={v})")
    if query.manufacturer is not None:
        parts.append(f"manufacturer:={quote(query.manufacturer)}")
    if query.doc_type is not None and collection == "documents":
        parts.append(f"doc_type:={quote(query.doc_type)}")
    if query.date_from is not None:
        parts.append(f"date:>={day_seconds(query.date_from)}")
    if query.date_to is not None:
        parts.append(f"date:<={day_seconds(query.date_to, end=True)}")
    return " && ".join(parts)


def searched_collections(query: SearchQuery) -> list[CollectionName]:
    """The collections the query runs on: a ``doc_type`` filter leaves the devices out."""
    return [c for c in query.collections if not (c == "devices" and query.doc_type is not None)]


def to_hit(collection: CollectionName, raw: Mapping[str, Any], score: float) -> SearchHit:
    doc: Mapping[str, Any] = raw["document"]
    snippet = ""
    for h in raw.get("highlights") or ():
        snippet = h.get("snippet") or " ".join(h.get("snippets") or ())
        if snippet:
            break
    if not snippet:
        text = str(doc.get("text") or doc.get("description") or "")
        snippet = text[:SNIPPET_CHARS]
    stamp = doc.get("date")
    return SearchHit(
        collection=collection,
        id=str(doc["id"]),
        title=str(doc.get("title") or ""),
        snippet=snippet,
        score=score,
        device_key=doc.get("device_key"),
        model_key=doc.get("model_key"),
        site_key=doc.get("site_key"),
        manufacturer_key=doc.get("manufacturer_key"),
        document_key=doc.get("document_key"),
        device_id=doc.get("device_id"),
        model=doc.get("model"),
        manufacturer=doc.get("manufacturer"),
        site=doc.get("site"),
        doc_id=doc.get("doc_id"),
        doc_type=doc.get("doc_type"),
        page=doc.get("page"),
        date=None if stamp is None else datetime.fromtimestamp(stamp, UTC).date(),
    )


Scored = tuple[float, CollectionName, Mapping[str, Any]]
"""A ranked Typesense hit: (score, collection, raw hit); ``SearchHit``s are built only for
the page returned (building one per candidate cost more than the fusion)."""


def keyword_hits(collection: CollectionName, raw: Sequence[Mapping[str, Any]]) -> list[Scored]:
    return [(float(h.get("text_match") or 0), collection, h) for h in raw]


def vector_hits(collection: CollectionName, raw: Sequence[Mapping[str, Any]]) -> list[Scored]:
    # cosine distance in [0, 2] → similarity in [-1, 1]
    return [(1.0 - float(h.get("vector_distance", 1.0)), collection, h) for h in raw]


def fuse(
    collection: CollectionName,
    keyword: Sequence[Mapping[str, Any]],
    vector: Sequence[Mapping[str, Any]],
    alpha: float,
    k: int,
) -> list[Scored]:
    """Reciprocal rank fusion of two rankings of one collection (best first). The snippet
    comes from the keyword hit when there is one (it has the highlight)."""
    scores: dict[str, float] = {}
    raws: dict[str, Mapping[str, Any]] = {}
    for weight, ranking in ((1.0 - alpha, keyword), (alpha, vector)):
        for rank, raw in enumerate(ranking, start=1):
            doc_id = str(raw["document"]["id"])
            scores[doc_id] = scores.get(doc_id, 0.0) + weight / (k + rank)
            raws.setdefault(doc_id, raw)
    order = sorted(scores, key=lambda d: -scores[d])
    return [(scores[d], collection, raws[d]) for d in order]


def merge(rankings: Iterable[list[Scored]], query: SearchQuery) -> list[SearchHit]:
    """The hits of several collections in one ranking (by score, which is comparable across
    collections for one mode), cut to the query's page."""
    every = sorted((h for r in rankings for h in r), key=lambda h: -h[0])
    start = (query.page - 1) * query.limit
    return [to_hit(c, raw, score) for score, c, raw in every[start : start + query.limit]]
