"""The local Typesense: keyword search with a filter and a vector query."""

from __future__ import annotations

import uuid

import pytest

from lakesmith.config import Settings
from lakesmith.stores.search import typesense_client

pytestmark = pytest.mark.integration


def test_keyword_and_vector_search(stack_settings: Settings) -> None:
    client = typesense_client(stack_settings)
    name = f"sensors_{uuid.uuid4().hex[:8]}"
    client.collections.create(
        {
            "name": name,
            "fields": [
                {"name": "title", "type": "string"},
                {"name": "kind", "type": "string", "facet": True},
                {"name": "embedding", "type": "float[]", "num_dim": 3},
            ],
        }
    )
    docs = [
        {
            "id": "1",
            "title": "temperature sensor for greenhouses",
            "kind": "temperature",
            "embedding": [1.0, 0.0, 0.0],
        },
        {
            "id": "2",
            "title": "humidity sensor for greenhouses",
            "kind": "humidity",
            "embedding": [0.0, 1.0, 0.0],
        },
        {
            "id": "3",
            "title": "high temperature sensor for ovens",
            "kind": "temperature",
            "embedding": [0.9, 0.1, 0.0],
        },
        {"id": "4", "title": "sound sensor", "kind": "sound", "embedding": [0.0, 0.0, 1.0]},
    ]
    results = client.collections[name].documents.import_(docs, {"action": "create"})
    assert all(r["success"] for r in results)

    hits = client.collections[name].documents.search(
        {
            "q": "greenhouses",
            "query_by": "title",
            "filter_by": "kind:=temperature",
            "facet_by": "kind",
        }
    )
    assert [h["document"]["id"] for h in hits["hits"]] == ["1"]

    vec = client.collections[name].documents.search(
        {"q": "*", "vector_query": "embedding:([0.0, 0.05, 0.99], k:2)"}
    )
    # Nearest first by cosine distance: sound (4), then humidity (2), then the two others.
    assert [h["document"]["id"] for h in vec["hits"]] == ["4", "2", "3", "1"]
    distances = [h["vector_distance"] for h in vec["hits"]]
    assert distances == sorted(distances)
