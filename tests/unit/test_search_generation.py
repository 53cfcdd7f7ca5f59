"""``stores.search_generation.IndexGeneration`` against an in-memory stand-in for the
Typesense client: the stored token is read at most once per ``check_s``, a write in this
process changes the key at once, a token is never reused."""

from __future__ import annotations

import time
from typing import Any

import typesense

from lakesmith.stores.search_generation import IndexGeneration


class _Docs:
    def __init__(self, store: dict[str, dict[str, Any]], name: str) -> None:
        self.store, self.name = store, name

    def upsert(self, doc: dict[str, Any]) -> None:
        if self.name not in self.store:
            raise typesense.exceptions.ObjectNotFound("no collection")
        self.store[self.name][doc["id"]] = doc

    def __getitem__(self, doc_id: str) -> Any:
        outer = self

        class _Doc:
            def retrieve(self) -> dict[str, Any]:
                outer.reads += 1
                try:
                    return outer.store[outer.name][doc_id]
                except KeyError:
                    raise typesense.exceptions.ObjectNotFound("no document") from None

        return _Doc()

    reads = 0


class _Client:
    """``collections[name].documents`` and ``collections.create`` only."""

    def __init__(self) -> None:
        self.store: dict[str, dict[str, Any]] = {}
        self.docs: dict[str, _Docs] = {}

    @property
    def collections(self) -> Any:
        client = self

        class _Collections:
            def create(self, schema: dict[str, Any]) -> None:
                client.store.setdefault(schema["name"], {})

            def __getitem__(self, name: str) -> Any:
                docs = client.docs.setdefault(name, _Docs(client.store, name))

                class _Collection:
                    documents = docs

                return _Collection()

        return _Collections()


def test_reads_at_most_once_per_interval_and_sees_other_writers() -> None:
    client = _Client()
    reader = IndexGeneration(client, "gen", "http://ts-a", check_s=0.2)
    writer = IndexGeneration(client, "gen", "http://ts-b", check_s=0.2)  # "another process"
    first = reader.current()
    assert [reader.current() for _ in range(50)] == [first] * 50
    assert client.docs["gen"].reads == 1  # one read for 51 calls within the interval
    writer.bump()  # creates the collection on first use
    assert reader.current() == first  # not re-read yet: the bound is check_s
    time.sleep(0.25)
    second = reader.current()
    assert second != first and client.docs["gen"].reads == 2
    writer.bump()
    time.sleep(0.25)
    assert reader.current() not in (first, second)  # never back to an earlier key


def test_a_write_in_this_process_changes_the_key_at_once() -> None:
    client = _Client()
    reader = IndexGeneration(client, "gen", "http://ts", check_s=300)
    writer = IndexGeneration(client, "gen", "http://ts", check_s=300)  # same index, here
    before = reader.current()
    writer.bump()
    after = reader.current()
    assert after != before
    writer.bump()
    assert reader.current() not in (before, after)
    other = IndexGeneration(client, "other", "http://ts", check_s=300)
    assert other.current() == ".", "another index has its own token"
