"""Decoding context of streams (``lakesmith.stream_context`` in PostgreSQL).

Some records cannot be decoded from their own bytes: a CSV row needs its file's header
line (the delimiter, and which value is which column). A source hands that context with
the batch (``RawBatch.context``); bronze and quarantine keep each record's bytes but not
its file's header, so ``Dataset.evolve`` records the context here before the batch is
written, and ``reprocess --from bronze`` and ``quarantine replay`` read it back. A stream's
name carries its identity (a file's size and modified time, an object's ETag), so its
context never changes: a write is insert-if-absent, once per stream and process.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import psycopg


class StreamContexts:
    def __init__(self, conn: psycopg.Connection[Any], dataset: str) -> None:
        self.conn = conn
        self.dataset = dataset
        self._saved: set[str] = set()

    def save(self, contexts: Mapping[str, bytes]) -> None:
        """Record the context of streams not recorded yet (a no-op for the others)."""
        new = [(self.dataset, s, c) for s, c in contexts.items() if s not in self._saved]
        if not new:
            return
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO lakesmith.stream_context (dataset, stream, context) "
                "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                new,
            )
        self._saved.update(s for _, s, _ in new)

    def load(self, streams: Iterable[str]) -> dict[str, bytes]:
        """The recorded context of each of ``streams`` that has one."""
        rows = self.conn.execute(
            "SELECT stream, context FROM lakesmith.stream_context "
            "WHERE dataset = %s AND stream = ANY(%s)",
            (self.dataset, list(streams)),
        ).fetchall()
        self.conn.commit()
        return {stream: bytes(context) for stream, context in rows}
