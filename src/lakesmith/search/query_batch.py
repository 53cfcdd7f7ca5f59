"""Query embeddings for concurrent searches: cached, and batched when requests overlap.

One query costs ~21 MFLOP per token on the NumPy MiniLM (``search/embeddings.py``), about
10 ms of CPU for a short query when embedded alone. Embedded together, short queries cost
far less each (the matrix products get taller: measured ~3.8 ms a query in a batch of
100, one BLAS thread). ``QueryEmbedder`` batches without waiting: a caller that finds no
batch running embeds its own query at once (no added latency when idle); callers arriving
meanwhile queue up, and when the running batch ends the first of them embeds everything
queued in one batch. Results are Typesense ``vector_query`` literals, kept in an LRU cache
(a repeated query skips the model and the formatting of 384 numbers)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any, Protocol

_LEAD: Any = object()  # a queued caller's future gets this: "embed the queue now"


class Embeds(Protocol):
    def embed(self, texts: Sequence[str], batch_size: int = ...) -> Any: ...


def vector_literal(vector: Any) -> str:
    """``123,-2000,…``: a vector as Typesense's ``vector_query`` expects it, in the stored
    integer form (times ``EMBEDDING_SCALE``, rounded: cosine ignores the scale; half the
    text of ``%.6f`` floats, formatted ~2x faster and parsed faster by Typesense)."""
    import numpy as np

    from lakesmith.stores.search_schema import EMBEDDING_SCALE

    scaled = np.rint(np.asarray(vector, dtype=np.float64) * EMBEDDING_SCALE).astype(np.int64)
    return ",".join(map(str, scaled.tolist()))


class QueryEmbedder:
    """``literal(q)``: the ``vector_query`` literal of ``q``'s embedding; thread-safe."""

    def __init__(self, embedder: Embeds, max_batch: int = 32, cache_size: int = 1024) -> None:
        self.embedder = embedder
        self.max_batch = max_batch
        self.cache_size = cache_size
        self.batches: list[int] = []  # sizes of the last batches (tests, diagnostics)
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, str] = OrderedDict()
        self._queue: list[tuple[str, Future[Any]]] = []
        self._running = False

    def literal(self, q: str) -> str:
        with self._lock:
            hit = self._cache.get(q)
            if hit is not None:
                self._cache.move_to_end(q)
                return hit
            waiter: Future[Any] | None = None
            if self._running:
                waiter = Future()
                self._queue.append((q, waiter))
            else:
                self._running = True
        if waiter is not None:
            answer = waiter.result()  # raises what the batch raised
            if answer is not _LEAD:
                return str(answer)
        return self._lead(q)

    def _lead(self, q: str) -> str:
        """Embed ``q`` with what is queued (up to ``max_batch``), answer the others, then
        hand the rest of the queue to its first caller."""
        with self._lock:
            others = self._queue[: self.max_batch - 1]
            del self._queue[: self.max_batch - 1]
        texts = list(dict.fromkeys([q, *(t for t, _ in others)]))
        error: BaseException | None = None
        literals: dict[str, str] = {}
        try:
            vectors = self.embedder.embed(texts, batch_size=len(texts))
            literals = {t: vector_literal(v) for t, v in zip(texts, vectors, strict=True)}
        except BaseException as exc:  # every waiter gets it, not only this thread
            error = exc
        with self._lock:
            self.batches = [*self.batches[-99:], len(texts)]
            for text, literal in literals.items():
                self._cache[text] = literal
                self._cache.move_to_end(text)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
            nxt = self._queue.pop(0)[1] if self._queue else None
            if nxt is None:
                self._running = False
        for text, waiter in others:
            if error is not None:
                waiter.set_exception(error)
            else:
                waiter.set_result(literals[text])
        if nxt is not None:
            nxt.set_result(_LEAD)
        if error is not None:
            raise error
        return literals[q]
