"""The Typesense schemas of the ``devices`` and ``documents`` collections and what their
searches query and highlight (``stores/search.py`` creates and searches them)."""

from __future__ import annotations

from typing import Any

from lakesmith.search.types import CollectionName

EMBEDDING_DIM = 384  # all-MiniLM-L6-v2


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
