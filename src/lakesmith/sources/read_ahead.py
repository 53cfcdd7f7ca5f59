"""Reading ahead: the next items of an iterator produced in a thread of their own.

The ``file`` source reads and splits a file block by block (``formats``: ``file.read``,
the CSV block parse in Polars, the line split) in the same thread that then processes
the batch; the worker's wall clock was bound by that one thread while the other core
encoded Parquet. With ``ReadAhead`` the next ``depth`` chunks are read while the current
batch is processed: the same items in the same order, the same errors where they
happened, and at most ``depth`` + 1 chunks (a few 8 MiB blocks) more in memory.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

_ITEM, _END, _ERROR = 0, 1, 2


class ReadAhead(Iterator[T], Generic[T]):
    """``items`` iterated in a daemon thread, ``depth`` items ahead of the consumer.
    ``close()`` stops the thread (after the item it is producing) and closes ``items``
    there, so a generator holding a file is closed by the thread that runs it."""

    def __init__(self, items: Iterator[T], depth: int = 1, name: str = "read-ahead") -> None:
        self._items = items
        self._queue: queue.Queue[tuple[int, object]] = queue.Queue(maxsize=max(depth, 1))
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _put(self, kind: int, value: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put((kind, value), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for item in self._items:
                if not self._put(_ITEM, item):
                    return
            self._put(_END, None)
        except BaseException as exc:  # handed to the consumer, raised where it reads
            self._put(_ERROR, exc)
        finally:
            close = getattr(self._items, "close", None)
            if close is not None:
                close()

    def __iter__(self) -> ReadAhead[T]:
        return self

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        kind, value = self._queue.get()
        if kind == _ITEM:
            return value  # type: ignore[return-value]
        self._done = True
        self._thread.join()
        if kind == _ERROR:
            assert isinstance(value, BaseException)
            raise value
        raise StopIteration

    def close(self) -> None:
        """Stop reading ahead; what was read and not taken is dropped."""
        self._done = True
        self._stop.set()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.05)
        self._thread.join()
