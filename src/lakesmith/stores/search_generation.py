"""The search index's generation: a token every index write replaces, so that cached search
answers of *every* process can be dropped after a write by any of them.

The token is one document (``id`` = ``generation``) in a tiny Typesense collection
``<prefix>search_generation``, next to the index it describes. A writer stores a new random
token after each write (``bump``): random rather than counted, so two writers at once
cannot both write the same next number, and any change means "changed". A reader reads it
at most every ``search.generation_check_s`` seconds (``current``) and keys its cached
answers (and Typesense's own cache, through a request parameter) by it, so an answer from
before a write stops being served at most that long after the write ends. Writes made in
this process change the key at once (``_written``: the last token this process wrote per
index), without waiting for the next read."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from typing import Any

import typesense

GENERATION_ID = "generation"
_FIELDS = [{"name": "value", "type": "string", "index": False, "optional": True}]
_written_lock = threading.Lock()
_written: dict[str, str] = {}  # "<typesense url> <collection>" → last token written here


class IndexGeneration:
    """``current()``: the key of the index's state as this process knows it; ``bump()``
    after a write (dropping the index too: the token stays, so that readers see the drop
    as a change; a deleted token would look like the state before the first write)."""

    def __init__(self, client: Any, collection: str, url: str, check_s: float) -> None:
        self.client = client
        self.collection = collection
        self.check_s = check_s
        self._key = f"{url} {collection}"
        self._lock = threading.Lock()
        self._remote = ""
        self._next_check = 0.0  # monotonic time of the next read of the stored token

    def current(self) -> str:
        """The stored token (re-read when the last read is ``check_s`` old) joined with the
        last token this process wrote: changes after any write, here at once."""
        with self._lock:
            now = time.monotonic()
            if now >= self._next_check:
                self._remote = self._read()
                self._next_check = now + self.check_s  # from before the read: conservative
            remote = self._remote
        with _written_lock:
            local = _written.get(self._key, "")
        return f"{remote}.{local}"

    def bump(self) -> None:
        """Store a new token (creating the collection on first use); call after a write."""
        token = uuid.uuid4().hex
        doc = {"id": GENERATION_ID, "value": token}
        try:
            self.client.collections[self.collection].documents.upsert(doc)
        except typesense.exceptions.ObjectNotFound:
            with contextlib.suppress(typesense.exceptions.ObjectAlreadyExists):  # a racing writer
                self.client.collections.create({"name": self.collection, "fields": _FIELDS})
            self.client.collections[self.collection].documents.upsert(doc)
        self._remember(token)

    def _remember(self, token: str) -> None:
        with _written_lock:
            _written[self._key] = token

    def _read(self) -> str:
        try:
            doc = self.client.collections[self.collection].documents[GENERATION_ID].retrieve()
        except typesense.exceptions.ObjectNotFound:
            return ""  # never written (or dropped): "" is a state like any other
        return str(doc.get("value") or "")
