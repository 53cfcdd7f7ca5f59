"""``search.query_batch.QueryEmbedder``: concurrent queries are embedded in batches, each
caller gets its own query's vector, repeated queries come from the cache, and a failing
batch fails every caller in it (nobody hangs)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from lakesmith.search.query_batch import QueryEmbedder, vector_literal


class SlowEmbedder:
    """Vector i of a text is len(text) + i/10 (recognisable); each batch takes 30 ms."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[list[str]] = []
        self.fail_on = fail_on
        self.lock = threading.Lock()

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        with self.lock:
            self.calls.append(list(texts))
        time.sleep(0.03)
        if self.fail_on is not None and self.fail_on in texts:
            raise RuntimeError(f"cannot embed {self.fail_on!r}")
        return np.array([[len(t) + i / 10 for i in range(3)] for t in texts], dtype=np.float32)


def expected(text: str) -> str:
    return vector_literal(np.array([len(text) + i / 10 for i in range(3)], dtype=np.float32))


def test_concurrent_queries_are_batched_and_answered_each() -> None:
    model = SlowEmbedder()
    queries = QueryEmbedder(model, max_batch=8)
    texts = [f"query {'x' * i}" for i in range(24)]
    with ThreadPoolExecutor(24) as pool:
        got = list(pool.map(queries.literal, texts))
    assert got == [expected(t) for t in texts]
    assert sorted(t for call in model.calls for t in call) == sorted(texts)  # each once
    assert len(model.calls) < len(texts)  # some were embedded together
    assert max(len(c) for c in model.calls) <= 8
    assert max(queries.batches) > 1


def test_a_lone_query_is_embedded_at_once_and_then_cached() -> None:
    model = SlowEmbedder()
    queries = QueryEmbedder(model, cache_size=2)
    assert queries.literal("pump") == expected("pump")
    assert queries.literal("pump") == expected("pump")
    assert model.calls == [["pump"]]
    queries.literal("a")
    queries.literal("bb")  # evicts "pump" (least recently used)
    queries.literal("pump")
    assert model.calls[-1] == ["pump"]


def test_a_failing_batch_fails_its_callers_and_the_next_batch_still_runs() -> None:
    model = SlowEmbedder(fail_on="bad")
    queries = QueryEmbedder(model, max_batch=64)
    start = threading.Barrier(6)

    def one(text: str) -> str:
        start.wait()
        try:
            return queries.literal(text)
        except RuntimeError as exc:
            return f"error: {exc}"

    texts = ["bad", "good 1", "good 2", "good 3", "good 4", "good 5"]
    with ThreadPoolExecutor(6) as pool:
        got = dict(zip(texts, pool.map(one, texts), strict=True))
    failed = {t for c in model.calls if "bad" in c for t in c}
    for text, answer in got.items():
        if text in failed:
            assert answer == "error: cannot embed 'bad'"
        else:
            assert answer == expected(text)
    assert queries.literal("good 9") == expected("good 9")  # not stuck after the failure
    with pytest.raises(RuntimeError, match="cannot embed 'bad'"):
        queries.literal("bad")
