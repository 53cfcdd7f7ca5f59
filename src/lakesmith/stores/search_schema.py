"""The Typesense schemas of the ``devices`` and ``documents`` collections and what their
searches query and highlight (``stores/search.py`` creates and searches them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lakesmith.search.types import CollectionName

if TYPE_CHECKING:
    import numpy as np
    import polars as pl
    from numpy.typing import NDArray

EMBEDDING_DIM = 384  # all-MiniLM-L6-v2
# Embeddings are stored (and queried) as integers: the unit vector times EMBEDDING_SCALE,
# rounded. Cosine distance ignores the scale (Typesense normalises both sides), the
# rounding moves a component by at most 5e-5 (cosine to the float vector > 0.99999), and
# Typesense parses every returned hit's stored document, embedding included, even when the
# field is excluded from the answer: 384 short integers parse in about half the time of
# 384 floats (Typesense CPU per vector search of 10 hits ~2.5-3.3 -> ~1.7-1.9 ms,
# docs/search.md)
EMBEDDING_SCALE = 10_000


def stored_vectors(vectors: NDArray[np.floating[Any]]) -> pl.Series:
    """The ``embedding`` column of a (rows x EMBEDDING_DIM) array: each row scaled to unit
    length (so vectors read back from any earlier form are handled alike), times
    ``EMBEDDING_SCALE``, rounded to Int16 (|x| <= 10,000)."""
    import numpy as np
    import polars as pl

    matrix = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    scaled = np.rint(matrix / np.clip(norms, 1e-12, None) * EMBEDDING_SCALE).astype(np.int16)
    return pl.Series("embedding", scaled).cast(pl.List(pl.Int16))


def _f(name: str, type_: str = "string", **opts: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, "optional": True, **opts}


_COMMON: list[dict[str, Any]] = [
    {"name": "title", "type": "string"},
    _f("model", facet=True),
    _f("model_name", facet=True),
    _f("manufacturer", facet=True),
    _f("site", facet=True),
    _f("site_name", facet=True),
    _f("device_id", facet=True),
    _f("date", "int64"),  # epoch seconds: a document's date, a device's install date
    _f("device_key", "int64"),
    _f("model_key", "int64"),
    _f("site_key", "int64"),
    _f("manufacturer_key", "int64"),
    _f("content_hash", index=False),  # what the indexer compares to skip unchanged rows
    _f("embedding", "float[]", num_dim=EMBEDDING_DIM),
]
FIELDS: dict[CollectionName, list[dict[str, Any]]] = {
    "devices": [
        *_COMMON,
        _f("description"),
        _f("status", facet=True),
        _f("tags", "string[]", facet=True),
        _f("sensor_types", "string[]", facet=True),
        _f("city", facet=True),
        _f("country", facet=True),
    ],
    "documents": [
        *_COMMON,
        _f("doc_id", facet=True),
        _f("document_key", "int64"),
        _f("doc_type", facet=True),
        _f("page", "int32"),
        _f("chunk", "int32"),
        _f("text"),
    ],
}
HIGHLIGHT: dict[CollectionName, str] = {  # snippets from these only (highlighting is costly)
    "devices": "title,description",
    "documents": "title,text",
}
QUERY_BY: dict[CollectionName, tuple[str, str]] = {  # (fields, weights)
    "devices": (
        "device_id,title,model,model_name,manufacturer,site_name,tags,description",
        "4,4,3,3,2,2,2,1",
    ),
    "documents": ("title,model_name,manufacturer,text", "3,3,2,1"),
}
