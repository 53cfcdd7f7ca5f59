"""``search.result_cache.ResultCache``: hits within the TTL, expiry, LRU bound, clear."""

from __future__ import annotations

import time

from lakesmith.search.result_cache import ResultCache
from lakesmith.search.types import SearchQuery


def test_hit_then_expiry() -> None:
    cache: ResultCache[str] = ResultCache(ttl_s=0.05)
    key = SearchQuery(q="gas detector", site="BER")
    assert cache.get(key) is None
    cache.put(key, "answer")
    assert cache.get(SearchQuery(q="gas detector", site="BER")) == "answer"  # equal query
    assert cache.get(SearchQuery(q="gas detector", site="OSL")) is None  # other filter
    time.sleep(0.06)
    assert cache.get(key) is None and len(cache) == 0


def test_least_recently_used_goes_first_and_clear() -> None:
    cache: ResultCache[int] = ResultCache(ttl_s=60, max_entries=2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now the most recent
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)
    cache.clear()
    assert cache.get("a") is None
