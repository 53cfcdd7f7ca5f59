"""Keyword, vector and hybrid search on the small entity fixture (real Typesense, real
embeddings): hand-written queries find the expected entity, every filter narrows the
results to matching hits, hostile filter values stay literal, hits carry existing keys."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from lakesmith.config import Settings
from lakesmith.search.documents import device_documents, page_documents
from lakesmith.search.indexing import SearchIndexer
from lakesmith.search.types import EmbeddingsUnavailableError, SearchQuery
from lakesmith.stores.search import SearchRepository
from lakesmith.testing import search as fx

pytestmark = pytest.mark.integration


def prefixed(settings: Settings, **search: object) -> Settings:
    config = settings.search.model_copy(
        update={"collection_prefix": f"t{uuid.uuid4().hex[:8]}_", **search}
    )
    return settings.model_copy(update={"search": config})


@pytest.fixture(scope="module")
def repo(stack_settings: Settings) -> Iterator[SearchRepository]:
    settings = prefixed(stack_settings)
    indexer = SearchIndexer(settings)
    indexer.sync("devices", device_documents(fx.devices()))
    indexer.sync("documents", page_documents(fx.pages(), settings.search.chunk_words))
    yield indexer.repo
    indexer.repo.drop()


def ids(repo: SearchRepository, **query: object) -> list[str]:
    return [h.id for h in repo.search(SearchQuery(**query)).hits]


def test_keyword_tolerates_a_typo_in_the_model_name(repo: SearchRepository) -> None:
    result = repo.search(SearchQuery(q="VibraSens", mode="keyword", collections=("devices",)))
    assert result.mode == "keyword"
    assert {h.id for h in result.hits} == {"dev-003", "dev-004", "dev-008"}
    top = repo.search(SearchQuery(q="GasGaurd datashet", mode="keyword")).hits[0]
    assert top.doc_id == "ds-GX-5" and top.collection == "documents" and "<mark>" in top.snippet


@pytest.mark.parametrize(
    ("q", "doc"),
    [
        ("is my freezer too warm", "ds-TH-200"),
        ("warn me about poisonous fumes", "ds-GX-5"),
        ("rust damage repaired", "rep-dev-003-2024"),
    ],
)
def test_vector_finds_a_paraphrase_sharing_no_words(
    repo: SearchRepository, q: str, doc: str
) -> None:
    keyword = repo.search(SearchQuery(q=q, mode="keyword", collections=("documents",))).hits
    assert doc not in {h.doc_id for h in keyword}  # (typo tolerance matches "too" to "two")
    hits = repo.search(SearchQuery(q=q, mode="vector", collections=("documents",))).hits
    assert hits[0].doc_id == doc
    assert hits == sorted(hits, key=lambda h: -h.score)


def test_hybrid_fuses_both_rankings(repo: SearchRepository) -> None:
    # keyword alone finds the GX-5 devices and datasheet; vector alone ranks the datasheet;
    # the fused ranking has both, and the paraphrase still works through the vector side
    result = repo.search(SearchQuery(q="GasGuard alarm", mode="hybrid"))
    assert result.mode == "hybrid" and not result.warnings
    top3 = {h.id for h in result.hits[:3]}
    assert "ds-GX-5:1:0" in top3 and top3 & {"dev-005", "dev-006"}
    assert ids(repo, q="rust damage repaired", mode="hybrid", collections=("documents",))[0] == (
        "rep-dev-003-2024:1:0"
    )


def test_every_filter_narrows_to_matching_hits(repo: SearchRepository) -> None:
    base = {"q": "sensor datasheet report device", "mode": "hybrid", "limit": 50}
    everything = repo.search(SearchQuery(**base))
    assert len(everything.hits) == 8 + 5  # every device and page chunk is a candidate
    cases: list[tuple[dict[str, object], object]] = [
        ({"site": "BER"}, lambda h: h.site == "BER"),
        ({"site": "Oslo Harbour Cold Store"}, lambda h: h.site == "OSL"),
        ({"manufacturer": "Rotek"}, lambda h: h.manufacturer == "Rotek"),
        ({"model": "GX-5"}, lambda h: h.model == "GX-5"),
        ({"model": "ThermoHygro 200"}, lambda h: h.model == "TH-200"),
        ({"doc_type": "report"}, lambda h: h.doc_type == "report"),
        ({"date_from": dt.date(2023, 1, 1)}, lambda h: h.date >= dt.date(2023, 1, 1)),
        ({"date_to": dt.date(2021, 12, 31)}, lambda h: h.date <= dt.date(2021, 12, 31)),
        (
            {"date_from": dt.date(2021, 1, 1), "date_to": dt.date(2021, 12, 31), "site": "BER"},
            lambda h: h.date.year == 2021 and h.site == "BER",
        ),
    ]
    for filters, ok in cases:
        hits = repo.search(SearchQuery(**base, **filters)).hits
        assert hits, filters
        assert len(hits) < len(everything.hits), filters
        assert all(ok(h) for h in hits), (filters, [h.id for h in hits])
    reports = repo.search(SearchQuery(**base, doc_type="report")).hits
    assert [h.doc_id for h in reports] == ["rep-dev-003-2024"]  # devices have no doc type


def test_hostile_filter_values_are_literal(repo: SearchRepository) -> None:
    hostile = fx.SITES["HAM"][0]  # "Dock 7: North && South, [B] || x:=1"
    hits = repo.search(SearchQuery(q="*", mode="keyword", site=hostile, limit=50)).hits
    assert {h.id for h in hits} == {"dev-006", "dev-007", "dev-008"}  # (q=*: every match)
    # each would widen the result to OSL or BER devices if it were read as syntax
    for value in ["x || site:=OSL", "x) || (site:=OSL", "[OSL,BER]", "x, BER", "*", "\\", "("]:
        assert repo.search(SearchQuery(q="*", mode="keyword", site=value)).hits == [], value
    # Typesense compares string filters token-wise, ignoring case and punctuation
    assert len(repo.search(SearchQuery(q="*", mode="keyword", site="osl.")).hits) == 2
    for value in ["`OSL`", "a` || site:=`BER", "\x00", " ", "x" * 201]:
        with pytest.raises(ValidationError):
            SearchQuery(q="device", site=value)
    with pytest.raises(ValidationError):
        SearchQuery(q="device", date_from=dt.date(2024, 1, 2), date_to=dt.date(2024, 1, 1))
    # query text is not syntax either
    assert repo.search(SearchQuery(q="`&& || :=[]*", mode="hybrid")).mode == "hybrid"


def test_hits_carry_keys_of_the_fixture_dimensions(repo: SearchRepository) -> None:
    device_keys = set(fx.devices()["device_key"])
    model_keys = set(fx.dim_models()["model_key"])
    site_keys = set(fx.dim_sites()["site_key"])
    hits = repo.search(SearchQuery(q="datasheet device report", limit=50)).hits
    assert {h.collection for h in hits} == {"devices", "documents"}
    for h in hits:
        assert h.model_key in model_keys
        if h.collection == "devices":
            assert h.device_key in device_keys and h.site_key in site_keys
    report = next(h for h in hits if h.doc_type == "report")
    assert report.device_key in device_keys and report.site_key in site_keys


def test_pages_of_results(repo: SearchRepository) -> None:
    q = {"q": "*", "mode": "keyword", "collections": ("devices",), "limit": 3}
    first = ids(repo, **q, page=1)
    second = ids(repo, **q, page=2)
    assert len(first) == 3 and len(second) == 3 and not set(first) & set(second)


def test_without_embeddings_hybrid_is_keyword_and_vector_is_refused(
    repo: SearchRepository,
) -> None:
    off = prefixed(repo.settings, embeddings=False).model_copy(
        update={"search": repo.config.model_copy(update={"embeddings": False})}
    )  # same collections, embeddings off
    plain = SearchRepository(off)
    result = plain.search(SearchQuery(q="VibraSense", mode="hybrid"))
    assert result.mode == "keyword" and "search.embeddings" in result.warnings[0]
    assert result.hits
    with pytest.raises(EmbeddingsUnavailableError):
        plain.search(SearchQuery(q="VibraSense", mode="vector"))


def test_hybrid_all_words_and_result_cache(
    stack_settings: Settings, repo: SearchRepository
) -> None:
    """``search.hybrid_all_words``: a hybrid query with a word no document has still finds
    the entity (through the vector ranking) while its keyword leg returns only full
    matches; ``search.cache_ttl_s`` answers repeated searches with the same hits."""
    q = "GasGuard alarm quixotry"
    keyword = repo.search(SearchQuery(q=q, mode="keyword")).hits  # drops the unknown word
    assert {"dev-005", "dev-006"} & {h.id for h in keyword}
    hybrid = repo.search(SearchQuery(q=q, mode="hybrid"))
    assert "ds-GX-5:1:0" in {h.id for h in hybrid.hits[:5]}
    cached = SearchRepository(
        stack_settings.model_copy(
            update={"search": repo.config.model_copy(update={"cache_ttl_s": 30})}
        )
    )
    for query in (SearchQuery(q="GasGuard alarm"), SearchQuery(q=q, mode="keyword")):
        first, again = cached.search(query), cached.search(query)
        assert [h.id for h in first.hits] == [h.id for h in again.hits]
        assert [h.id for h in first.hits] == [h.id for h in repo.search(query).hits]
