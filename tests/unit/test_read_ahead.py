"""``sources.read_ahead``: the file source's chunks are read in a thread, one ahead: same
items in the same order, errors raised where the reader meets them, and closing stops
the thread and closes the reader (its file) in that thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from lakesmith.sources.read_ahead import ReadAhead


def test_same_items_in_order_and_read_in_another_thread() -> None:
    threads: set[str] = set()

    def items() -> Iterator[int]:
        for i in range(100):
            threads.add(threading.current_thread().name)
            yield i

    assert list(ReadAhead(items(), depth=3)) == list(range(100))
    assert threads == {"read-ahead"}


def test_an_error_is_raised_after_the_items_before_it() -> None:
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise OSError("disk gone")

    ahead = ReadAhead(items())
    assert next(ahead) == 1
    assert next(ahead) == 2
    with pytest.raises(OSError, match="disk gone"):
        next(ahead)
    with pytest.raises(StopIteration):
        next(ahead)


def test_it_stays_at_most_depth_items_ahead() -> None:
    produced: list[int] = []

    def items() -> Iterator[int]:
        for i in range(50):
            produced.append(i)
            yield i

    ahead = ReadAhead(items(), depth=2)
    assert next(ahead) == 0
    time.sleep(0.3)
    # taken: 0; queued: 1, 2; the thread holds 3 waiting for room
    assert len(produced) <= 4
    ahead.close()


def test_close_stops_the_thread_and_closes_the_reader_there() -> None:
    closed_in: list[str] = []

    def items() -> Iterator[int]:
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed_in.append(threading.current_thread().name)

    ahead = ReadAhead(items())
    assert next(ahead) == 0
    ahead.close()
    assert closed_in == ["read-ahead"]
    assert not any(t.name == "read-ahead" and t.is_alive() for t in threading.enumerate())
    with pytest.raises(StopIteration):
        next(ahead)
