"""The search result cache (on by default) and index writes (real Typesense): an answer
cached before a write by *another process* is not served once ``search.generation_check_s``
has passed since the write, neither from the process's cache nor from Typesense's own
(``use_cache``); a write by this process shows at once, through any repository."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

from lakesmith.config import Settings
from lakesmith.search.documents import device_documents
from lakesmith.search.indexing import SearchIndexer
from lakesmith.search.types import SearchQuery
from lakesmith.stores.search import SearchRepository
from lakesmith.testing import search as fx
from lakesmith.testing import worker_env

pytestmark = pytest.mark.integration

QUERY = SearchQuery(q="GasGuard", mode="keyword", collections=("devices",))
GONE = "dev-005"  # a GasGuard (GX-5) device the other process deletes


def with_search(settings: Settings, **search: object) -> Settings:
    return settings.model_copy(update={"search": settings.search.model_copy(update=search)})


def ids(repo: SearchRepository) -> set[str]:
    return {h.id for h in repo.search(QUERY).hits}


def delete_in_another_process(settings: Settings, doc_id: str) -> None:
    script = (
        "from lakesmith.config import load_settings\n"
        "from lakesmith.search.indexing import SearchIndexer\n"
        f"assert SearchIndexer(load_settings()).delete('devices', [{doc_id!r}]) == 1\n"
    )
    env = worker_env(
        settings, LAKESMITH__SEARCH__COLLECTION_PREFIX=settings.search.collection_prefix
    )
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=120)


@pytest.fixture
def indexed(stack_settings: Settings) -> Iterator[Settings]:
    settings = with_search(stack_settings, collection_prefix=f"g{uuid.uuid4().hex[:8]}_")
    indexer = SearchIndexer(settings)
    indexer.sync("devices", device_documents(fx.devices()))
    yield settings
    indexer.repo.drop()


def test_a_write_by_another_process_ends_cached_answers_within_the_check_interval(
    indexed: Settings,
) -> None:
    assert indexed.search.cache_ttl_s > 0  # the default: the cache is on
    fast = SearchRepository(with_search(indexed, cache_ttl_s=60, generation_check_s=0.5))
    slow = SearchRepository(with_search(indexed, cache_ttl_s=60, generation_check_s=300))
    assert GONE in ids(fast) and GONE in ids(slow)  # both cache the answer (and Typesense)

    delete_in_another_process(indexed, GONE)
    # not re-read yet: the cached answer is still served (the cache is really in play)
    assert GONE in ids(slow)
    time.sleep(0.6)
    # re-read: a new generation, so neither this process's cache nor Typesense's answers
    assert GONE not in ids(fast)
    assert GONE not in ids(SearchRepository(indexed))  # a new one (the default settings)


def test_a_write_in_this_process_shows_at_once(indexed: Settings) -> None:
    reader = SearchRepository(with_search(indexed, cache_ttl_s=60, generation_check_s=300))
    assert GONE in ids(reader)
    assert SearchIndexer(indexed).delete("devices", [GONE]) == 1  # another repository
    assert GONE not in ids(reader)
    SearchIndexer(indexed).sync("devices", device_documents(fx.devices()))  # back again
    assert GONE in ids(reader)
