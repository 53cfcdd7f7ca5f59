"""Index documents from entity frames: text, chunks, hashes, filters (no services)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from pydantic import ValidationError

from lakesmith.search import ranking
from lakesmith.search.documents import EMBED_TEXT, device_documents, page_documents
from lakesmith.search.types import SearchQuery
from lakesmith.testing import search as fx


def test_device_documents_fold_in_model_and_site() -> None:
    docs = device_documents(fx.devices())
    assert docs.height == 8 and docs["id"].is_unique().all()
    dev1 = docs.filter(pl.col("id") == "dev-001").row(0, named=True)
    assert dev1["title"] == "ThermoHygro 200 · dev-001"
    assert "by Nordic Sensing" in dev1["description"] and "Oslo" in dev1["description"]
    assert dev1["date"] == ranking.day_seconds(dt.date(2021, 3, 4))
    assert dev1[EMBED_TEXT].startswith(dev1["title"])
    # missing columns and empty lists are tolerated, duplicates keep the last row
    bare = pl.DataFrame({"device_id": ["a", "a", None], "status": ["x", "y", "z"]})
    out = device_documents(bare)
    assert out["id"].to_list() == ["a"] and out["description"].to_list() == ["y"]


def test_hash_changes_with_content_only() -> None:
    a = device_documents(fx.devices())
    b = device_documents(fx.devices())
    assert a["content_hash"].to_list() == b["content_hash"].to_list()
    changed = device_documents(fx.devices().with_columns(status=pl.lit("retired")))
    same = a["content_hash"] == changed["content_hash"]
    assert a.filter(same)["status"].to_list() == ["retired"]  # dev-006 was retired already


def test_pages_split_into_chunks_with_stable_ids() -> None:
    pages = pl.DataFrame(
        {"doc_id": ["d", "d", "e"], "page": [1, 2, 1], "text": ["a b  c\nd e", "  ", None]}
    )
    docs = page_documents(pages, chunk_words=2)
    assert docs["id"].to_list() == ["d:1:0", "d:1:1", "d:1:2"]  # empty pages yield nothing
    assert docs["text"].to_list() == ["a b", "c d", "e"]
    assert docs["title"].to_list() == ["d"] * 3


def test_filters_quote_values_and_skip_devices_for_doc_type() -> None:
    q = SearchQuery(q="x", site="a && b:c", model="M", manufacturer="N", doc_type="report",
                    date_from=dt.date(2024, 1, 1), date_to=dt.date(2024, 1, 1))  # fmt: skip
    where = ranking.filter_by(q, "documents")
    assert "(site:=`a && b:c` || site_name:=`a && b:c`)" in where
    assert "doc_type:=`report`" in where and "date:<=1704153599" in where
    assert "doc_type" not in ranking.filter_by(q, "devices")
    assert ranking.searched_collections(q) == ["documents"]
    with pytest.raises(ValueError, match="backtick"):
        ranking.quote("a`b")
    for bad in ({"site": "a`b"}, {"limit": 0}, {"page": 26, "limit": 10}, {"q": ""},
                {"collections": ()}, {"mode": "semantic"}):  # fmt: skip
        with pytest.raises(ValidationError):
            SearchQuery(**{"q": "x", **bad})


def test_rank_fusion_rewards_agreement() -> None:
    def raw(i: str) -> dict[str, object]:
        return {"document": {"id": i, "title": i}}

    fused = ranking.fuse("devices", [raw("a"), raw("b")], [raw("b"), raw("c")], 0.5, 60)
    assert [r["document"]["id"] for _, _, r in fused] == ["b", "a", "c"]
    keyword_only = ranking.fuse("devices", [raw("a"), raw("b")], [raw("b"), raw("c")], 0.0, 60)
    assert [r["document"]["id"] for _, _, r in keyword_only][:2] == ["a", "b"]
    q = SearchQuery(q="x", limit=2, page=2)
    assert [h.id for h in ranking.merge([fused], q)] == ["c"]
