"""``GET /v1/search`` and the GraphQL ``search`` field over the search helper's fixture
index (keyword mode: no embeddings needed): the same repository answers both, filters
narrow, bad parameters are 422, credentials are required."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from lakesmith.api.app import create_app
from lakesmith.api.testing import api_settings, basic
from lakesmith.config import Settings
from lakesmith.search.documents import device_documents, page_documents
from lakesmith.search.indexing import SearchIndexer
from lakesmith.testing import search as fx

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client(stack_settings: Settings) -> Iterator[TestClient]:
    search = stack_settings.search.model_copy(
        update={"collection_prefix": f"api{uuid.uuid4().hex[:8]}_"}
    )
    settings = api_settings(stack_settings.model_copy(update={"search": search}))
    indexer = SearchIndexer(settings)
    indexer.sync("devices", device_documents(fx.devices()))
    indexer.sync("documents", page_documents(fx.pages(), settings.search.chunk_words))
    try:
        with TestClient(create_app(settings, prepare=False)) as c:
            yield c
    finally:
        indexer.repo.drop()


def test_keyword_search_and_filters(client: TestClient) -> None:
    h = basic("reader")
    assert client.get("/v1/search", params={"q": "gas"}).status_code == 401
    r = client.get("/v1/search", params={"q": "GasGuard", "mode": "keyword"}, headers=h)
    assert r.status_code == 200, r.text
    hits = r.json()["hits"]
    assert hits and any(x.get("model") == "GX-5" for x in hits)
    assert all(x.get("model_key") is not None for x in hits if x.get("model") == "GX-5")
    osl = client.get(
        "/v1/search", params={"q": "ThermoHygro", "mode": "keyword", "site": "OSL"}, headers=h
    ).json()["hits"]
    assert osl and all(x["site"] in (None, "OSL") for x in osl if x["collection"] == "devices")
    sheets = client.get(
        "/v1/search",
        params={"q": "temperature", "mode": "keyword", "doc_type": "datasheet"},
        headers=h,
    ).json()["hits"]
    assert sheets and {x["doc_type"] for x in sheets} == {"datasheet"}


@pytest.mark.parametrize(
    "params",
    [
        {"q": ""},
        {"q": "x", "mode": "fuzzy"},
        {"q": "x", "site": "a`b"},
        {"q": "x", "from": "2024-02-01", "to": "2024-01-01"},
        {"q": "x", "limit": "100", "page": "9"},
        {"q": "x", "from": "yesterday"},
    ],
)
def test_bad_search_parameters_are_422(client: TestClient, params: dict[str, str]) -> None:
    r = client.get("/v1/search", params=params, headers=basic("reader"))
    assert r.status_code == 422, r.text


def test_graphql_search_uses_the_same_repository(client: TestClient) -> None:
    query = '{ search(q: "GasGuard", mode: "keyword", limit: 3) }'
    r = client.post("/v1/graphql", json={"query": query}, headers=basic("reader"))
    assert r.status_code == 200, r.text
    result = r.json()["data"]["search"]
    assert result["mode"] == "keyword" and result["hits"]
