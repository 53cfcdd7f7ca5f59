"""The ``sql`` source kind: a table (or a query) of a SQL database, read in chunks, fully
or incrementally by a watermark column.

``source: {kind: sql, url_env: SHOP_DB_URL, table: public.orders, key: [id],
mode: incremental, watermark: updated_at, lag: 5m, soft_delete: deleted_at}``
(``sources.sql_spec``); the reading itself (server-side cursors, the SQL) is
``stores.sql_reader``. Each chunk is a typed frame handed to the pipeline as records
(``RawBatch.add_records``, decoded by ``formats.records``: no JSON round trip); bronze's
payload of a row is its JSON object keyed by the column names, made in bulk.

**Stream and seq.** One stream per source, ``postgresql://host:port/db/schema.table?wm=col``
(no user, no password; ``?full`` in full mode); ``seq`` is a running row count that never
restarts, so ``_source`` is ``<stream>#<seq>``.

**Incremental.** The rows are read ordered by (watermark, key). Each batch's cursor (the
last row's watermark and key, JSON) is committed by the sinks with the data
(``Position.cursor``); a run (a new source) reads ``watermark >= last - lag``: the rows of
the last ``lag`` again, so a row committed late with an older watermark (a long
transaction) is not missed. The re-read rows get new seqs and land in bronze again (once per
run: within one process the rows delivered are remembered, by payload hash, for the lag
window);
silver drops them when the contract's ``keys`` hold the key *and* the watermark column
(one silver row per version of a row; the latest version per key is the current row).
Rows whose watermark is NULL are read by the first run only (nothing can find them
later). Hard deletes are not seen (use ``soft_delete`` or ``mode: full``).

**Full.** Each pass reads the whole relation ordered by key; the cursor is the last key
read (a crashed pass resumes after it) and ``{"done": true}`` on the pass's last batch,
so the next run starts a new pass (seqs continue).

**Soft deletes.** With ``soft_delete: COLUMN`` every payload gets ``_deleted`` (true when
the column is true or any non-null value other than false/0/''), which the contract must
read into a boolean field (``{name: deleted, type: boolean, path: _deleted}``): a row
flagged deleted arrives as a new version with ``deleted = true``, the tombstone.

**Hostile input**: NULL keys fail their required rule (quarantine); a row whose JSON is
over ``payload.max_bytes`` is quarantined ``payload_too_large`` (its payload cut);
column names may be anything the database allows (contract fields reach them with
``path``).
"""

from __future__ import annotations

import json
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np
import polars as pl

from lakesmith.core.errors import ContractError
from lakesmith.core.logging import get_logger
from lakesmith.core.positions import Position, Positions
from lakesmith.core.records import RawBatch
from lakesmith.formats.records import json_payloads
from lakesmith.sources.base import SourceContext
from lakesmith.sources.sql_spec import DELETED, SqlSourceSpec
from lakesmith.stores.sql_reader import Reader, Value, last_values, lower_bound, open_reader

log = get_logger(__name__)


def _below(top: Value, since: Any) -> bool:
    """Is watermark value ``top`` (as the cursor has it) below the bound ``since``?"""
    if top is None:
        return True
    try:
        if isinstance(since, datetime) and isinstance(top, str):
            return datetime.fromisoformat(top) < since
        return bool(Decimal(str(top)) < Decimal(str(since)))
    except (ValueError, TypeError, ArithmeticError):
        return False  # keep what cannot be compared (at worst, memory)


def _parse_cursor(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


_PAYLOAD = "\x00lakesmith_payload"  # a chunk's payloads, beside its columns until poll


def _concat(a: pl.DataFrame, b: pl.DataFrame) -> pl.DataFrame:
    """Two chunks of the same query (either may be empty)."""
    if not a.height:
        return b
    if not b.height:
        return a
    return pl.concat([a, b], how="vertical_relaxed", rechunk=False)


class SqlSource:
    """Reads the relation from the sinks' committed cursor, one chunk per poll."""

    def __init__(self, context: SourceContext) -> None:
        spec = context.contract.source
        if not isinstance(spec, SqlSourceSpec):
            raise ContractError(f"this needs a sql source; the contract's source is {spec.kind!r}")
        if spec.soft_delete is not None and not any(
            (f.path or f.name) == DELETED for f in context.contract.fields
        ):
            raise ContractError(
                f"source.soft_delete is set but no field of {context.contract.name} reads "
                f"{DELETED}",
                hint=f"add {{name: deleted, type: boolean, path: {DELETED}}} to fields",
            )
        self.spec = spec
        self.stream = spec.uri
        self._max_bytes = context.contract.payload.max_bytes
        start = context.resume([self.stream]).get(self.stream, Position(0))
        self.next = start.next
        cursor = _parse_cursor(start.cursor)
        self._wm: Value = cursor.get("wm")
        self._after: list[Value] | None = None
        if spec.mode == "full" and not cursor.get("done") and cursor.get("after") is not None:
            self._after = list(cursor["after"])
        self._url = spec.resolved_url(context.settings)
        self._reader: Reader | None = open_reader(self._url, spec)
        self._reading = False
        self._since: Any = None
        self._pending = pl.DataFrame()  # one row read ahead (is the chunk the last?)
        # the next chunk, fetched in a thread while the worker processes this one (the
        # server builds the JSON and psycopg waits on the socket without the GIL)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="sql-fetch")
        self._ahead: Future[pl.DataFrame] | None = None
        self._ahead_n = 0
        # incremental: hashes of the rows this process delivered, per chunk with the
        # chunk's highest watermark; a later query in the same process (a continuous run)
        # re-reads the lag window without delivering those rows again
        self._seen: list[tuple[Any, np.ndarray]] = []
        self._exhausted_at: float | None = None
        self.busy_s = 0.0
        self.rows_read = 0
        log.info("sql_source_opened", uri=self.stream, next=self.next, cursor=start.cursor)

    # -- reading -------------------------------------------------------------------------

    @property
    def reader(self) -> Reader:
        """The database connection, opened again after one was lost."""
        if self._reader is None:
            self._reader = open_reader(self._url, self.spec)
        return self._reader

    def _fetch(self, n: int) -> pl.DataFrame:
        """``n`` more rows (fewer at the end): the chunk fetched ahead, topped up."""
        rows = pl.DataFrame()
        if self._ahead is not None:
            ahead, asked, self._ahead = self._ahead, self._ahead_n, None
            rows = ahead.result()
            if rows.height < asked:  # the query ended
                return rows
        if rows.height < n:
            rows = _concat(rows, self._read(self.reader, n - rows.height))
        return rows

    def _read(self, reader: Reader, n: int) -> pl.DataFrame:
        """``n`` rows with their bronze payloads (column ``_PAYLOAD``), made here so that
        the fetch-ahead thread makes them beside the worker's processing."""
        rows = reader.fetch(n)
        if not rows.height:
            return rows
        return rows.with_columns(json_payloads(rows, self._max_bytes).alias(_PAYLOAD))

    def _fetch_ahead(self, n: int) -> None:
        if n > 0:
            reader = self.reader
            self._ahead, self._ahead_n = self._pool.submit(self._read, reader, n), n

    def _settle(self) -> None:
        """Wait for a fetch in flight (before the connection is used or closed)."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            try:
                ahead.result()
            except Exception:  # its error is the lost connection being handled
                log.debug("sql_source_fetch_ahead_failed", uri=self.stream)

    def _lost(self, exc: BaseException) -> None:
        """A read failed (a lost connection, a restarted server): drop the connection; the
        next poll connects again and queries from the last row delivered (incremental:
        its watermark minus the lag; full: after its key)."""
        log.warning("sql_source_read_failed", uri=self.stream, error=type(exc).__name__)
        self._settle()
        reader, self._reader = self._reader, None
        self._reading, self._pending, self._exhausted_at = False, pl.DataFrame(), None
        if reader is not None:
            try:
                reader.close()
            except Exception:  # the connection is gone already
                log.debug("sql_source_close_failed", uri=self.stream)

    def _start(self) -> None:
        spec = self.spec
        if spec.mode == "incremental":
            self._since = None if self._wm is None else lower_bound(self._wm, spec.lag_value())
            if self._since is not None:  # forget chunks wholly below the new window
                since = self._since
                self._seen = [(top, h) for top, h in self._seen if not _below(top, since)]
            self.reader.open(self._since, None)
        else:
            self.reader.open(None, self._after)
        log.info(
            "sql_query_started",
            uri=self.stream,
            since=str(self._since) if self._since is not None else None,
            after=self._after,
        )
        self._reading = True

    def _cursor_of(self, rows: pl.DataFrame, last: bool) -> str:
        spec = self.spec
        if spec.mode == "full":
            if last:
                self._after = None
                return json.dumps({"done": True})
            self._after = last_values(rows, spec.key)
            return json.dumps({"after": self._after})
        assert spec.watermark is not None
        names = [spec.watermark, *spec.key]
        # rows come in watermark order, NULL watermarks last (first run only): the last
        # non-null one is the new high mark
        marked = rows.get_column(spec.watermark).is_not_null().arg_true()
        if marked.len():
            values = last_values(rows, names, int(marked[-1]))
            self._wm = values[0]
            return json.dumps({"wm": values[0], "key": values[1:]})
        return json.dumps({"wm": self._wm})

    def _unseen(self, rows: pl.DataFrame) -> pl.DataFrame:
        """``rows`` without those this process delivered already (remembered with the
        chunk's high watermark, ``self._wm`` after ``_cursor_of``)."""
        hashes = rows.drop(_PAYLOAD).hash_rows(seed=11).to_numpy()
        if self._seen:
            known = np.concatenate([h for _, h in self._seen])
            fresh = ~np.isin(hashes, known)
            if not fresh.all():
                rows = rows.filter(pl.Series(fresh))
                hashes = hashes[fresh]
        if len(hashes):
            self._seen.append((self._wm, hashes))
        if self._wm is not None:  # only the lag window is ever read again: bounded memory
            bound = lower_bound(self._wm, self.spec.lag_value())
            self._seen = [(top, h) for top, h in self._seen if not _below(top, bound)]
        return rows

    def poll(self, max_records: int, max_wait_s: float) -> RawBatch:
        batch = RawBatch(source=self.stream, uri_sep=self.spec.uri_sep)
        t0 = time.monotonic()
        if not self._reading and self._exhausted_at is not None:
            wait = self.spec.poll_interval_s - (t0 - self._exhausted_at)
            if wait > 0:
                time.sleep(min(wait, max_wait_s))
                self.busy_s = 0.0
                return batch
        n = min(max_records, self.spec.chunk_rows)
        try:
            if not self._reading:
                self._start()
            rows = _concat(self._pending, self._fetch(n + 1 - self._pending.height))
        except Exception as exc:
            self._lost(exc)
            raise
        last = rows.height <= n
        self._pending = rows.clear() if last else rows.slice(n)
        rows = rows.slice(0, n)
        if last:
            self._reading = False
            self._exhausted_at = time.monotonic()
        else:
            self._fetch_ahead(n + 1 - self._pending.height)
        if rows.height:
            batch.cursors[self.stream] = self._cursor_of(rows, last)
            if self.spec.mode == "incremental":
                rows = self._unseen(rows)
        if rows.height:
            payloads = rows.get_column(_PAYLOAD)
            batch.add_records(self.stream, self.next, rows.drop(_PAYLOAD), payloads)
            self.next += rows.height
            self.rows_read += rows.height
        self.busy_s = time.monotonic() - t0
        return batch

    # -- the rest of the Source interface -------------------------------------------------

    def committed(self, positions: Positions) -> None:
        pass  # the cursor lives in the sinks' positions

    def drained(self) -> bool:
        """The last query was read to its end and (incremental) no row has a watermark
        above the highest one read since; when one has, the next poll queries again."""
        if self._reading or self._pending.height:
            return False
        if self.spec.mode == "full" or self._wm is None:
            return True
        try:
            newer = self.reader.newer_than(self._wm)
        except Exception as exc:
            self._lost(exc)
            raise
        if newer:
            self._exhausted_at = None  # query again at once
            return False
        return True

    def lag(self) -> dict[str, int]:
        return {}  # rows waiting are unknown without counting them

    def close(self) -> None:
        self._settle()
        self._pool.shutdown(wait=True)
        if self._reader is not None:
            self._reader.close()
            self._reader = None


SPEC = SqlSourceSpec
SOURCE = SqlSource
