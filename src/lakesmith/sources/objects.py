"""The ``s3`` source kind: JSON-lines objects landing in an S3-compatible bucket (MinIO,
AWS S3, the local moto server), picked up continuously, each object version once.

``source: {kind: s3, bucket: landing, prefix: events/, poll_interval_s: 5}``; endpoint
and keys come from the ``[s3]`` settings. ``payload.format`` splits an object into records
(``jsonl``; gzip is recognised by its magic bytes, whatever the key's suffix).

**Streams.** Each object *version* is a stream, ``s3://bucket/<key %-encoded>@<etag>``;
``seq`` is the line number (0-based, as the format numbers lines); record URIs are
``<stream>#line=<seq>``. An overwritten object has a new ETag, so it is a new stream,
read from its first line. The batch carrying an object's last record sets the stream's
cursor to ``eof``: the sinks commit it with the data, so the sinks' positions *are* the
ledger of finished object versions (key + ETag, committed with the rows, like Kafka
offsets). A version whose committed position has no ``eof`` is resumed at its
``next`` line after a restart.

**Listing.** Objects are read in key order (fluentd's time-sliced keys sort by time).
At start the whole prefix is listed once (one LIST call per 1,000 keys) and the sinks are
asked for those versions' positions (``context.resume``); after that each poll lists only
keys after a *watermark* (``StartAfter``: the last key listed; every version up to it is
finished, queued or delivered), so a poll costs LIST calls for new keys only, asks the
sinks nothing, and memory holds only the versions queued or delivered since the last full
listing — not a ledger of every object ever seen. A full listing runs again every
``rescan_interval_s`` (and in ``drained``, so ``run --until-idle`` is exact): it finds keys
written below the watermark (a late batch, an overwritten key) and asks the sinks about
versions it does not know, which costs one LIST per 1,000 keys and one positions lookup —
never while a batch is being written (the worker polls the next batch meanwhile, and a
sink's connection is not to be shared then: the rescan waits for ``committed``). The sinks' position maps still gain one entry (~100 bytes) per object
version; retiring finished streams from them is a spine change not made here.

**Fetching.** The next ``prefetch_objects`` queued objects of up to 64 MiB are fetched
whole in threads while the current one is split (a GET's latency overlaps the work);
larger objects are streamed in blocks when their turn comes. Memory: about
``prefetch_objects`` small objects plus one chunk of records.

**Hostile input** never stops the source and is never dropped: a line over
``payload.max_bytes`` is delivered truncated (quarantined ``payload_too_large``); an
object that is not gzip though named ``.gz`` is read as plain text; binary garbage splits
into lines quarantined ``invalid_json``; a truncated or corrupt gzip stream keeps the lines
before the damage and adds one record ``unreadable_object`` naming the error; an empty
object (or blank lines only) becomes one record ``empty_object``; a version deleted or
overwritten before it could be read becomes one record ``object_gone``. Keys may hold
spaces and any Unicode (%-encoded in stream names). Network errors while reading an
object are raised (the worker retries them) and the object is read again from the first
line not yet delivered.

**Notifications** (optional, ``notifications_queue``): an SQS queue receiving the bucket's
``ObjectCreated`` events wakes the source up to list at once (``objects_notify``); the
listing stays the truth, so notifications change latency only.

One worker per dataset: workers do not share a bucket's objects between them.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, BinaryIO, cast

from lakesmith.core.errors import ContractError, InputError
from lakesmith.core.logging import get_logger
from lakesmith.core.positions import Positions
from lakesmith.core.records import RawBatch
from lakesmith.formats import RecordChunk, get_format
from lakesmith.formats.base import add_chunk, columns_span_streams, joins, read_chunks
from lakesmith.formats.encoding import transcoded
from lakesmith.formats.json import source_error
from lakesmith.sources.base import SourceContext
from lakesmith.sources.objects_io import (
    Guarded,
    ObjectVersion,
    gone_message,
    gunzip_whole,
    list_versions,
    open_fetched,
    open_object,
)
from lakesmith.sources.objects_spec import ObjectSourceSpec

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from lakesmith.sources.objects_notify import Notifications

log = get_logger(__name__)

EOF = "eof"  # the cursor of a finished object version
PREFETCH_MAX_BYTES = 64 * 1024 * 1024  # larger objects are streamed when their turn comes


class ObjectSource:
    """Read the objects under a bucket prefix in key order, one chunk at a time."""

    def __init__(self, context: SourceContext) -> None:
        spec = context.contract.source
        if not isinstance(spec, ObjectSourceSpec):
            raise ContractError(f"this needs an s3 source; the contract's source is {spec.kind!r}")
        from lakesmith.stores.objects import s3_client

        self.spec = spec
        self.uri = spec.uri
        self._context = context
        self._format = get_format(context.contract.payload.format)
        self._max_bytes = context.contract.payload.max_bytes
        self._encoding = context.contract.payload.text_encoding
        self.client: S3Client = s3_client(context.settings)
        self._queue: list[ObjectVersion] = []  # sorted by key: versions to read
        self._queued: set[str] = set()
        self._delivered: set[str] = set()  # finished this run, not yet seen committed
        self._starts: dict[str, int] = {}  # stream → first line to deliver
        self._watermark = ""  # every key up to it was delivered (or committed before)
        self._primed = False  # context.resume called once (it primes dedupe)
        self._in_flight = 0  # delivered batches the sinks are still writing
        self._rescan_wanted = False
        self._last_list = 0.0
        self._last_rescan = 0.0
        self._current: ObjectVersion | None = None
        self._chunks: Iterator[RecordChunk] | None = None
        self._pending: RecordChunk | None = None  # the undelivered rest of a chunk
        self.busy_s = 0.0
        self.objects_done = 0
        self._pool: ThreadPoolExecutor | None = None  # fetches the next objects ahead
        self._fetched: dict[str, Future[tuple[bytes, bool]]] = {}
        self._notify: Notifications | None = None
        if spec.notifications_queue:
            from lakesmith.sources.objects_notify import Notifications

            self._notify = Notifications(
                context.settings, spec.notifications_queue, spec.notifications_endpoint_url
            )
        self._discover(full=True)
        log.info("s3_source_opened", uri=self.uri, queued=len(self._queue))

    # -- listing -------------------------------------------------------------------------

    def _discover(self, full: bool) -> None:
        """List new object versions (all of the prefix when ``full``) and queue those the
        sinks have not finished."""
        now = time.monotonic()
        self._last_list = now
        if full:
            self._last_rescan = now
            self._rescan_wanted = False
        listed = list(list_versions(self.client, self.spec, "" if full else self._watermark))
        fresh = [
            v
            for v in listed
            if v.stream not in self._queued and v.stream not in self._delivered
            and v.stream != (self._current.stream if self._current else None)
        ]  # fmt: skip
        found: Positions = {}
        if full:  # which versions did the sinks finish? (a restart, an earlier run)
            lookup = [v.stream for v in fresh] + list(self._delivered)
            if not self._primed:
                found = self._context.resume(lookup)  # primes the dedupe index once
                self._primed = True
            else:
                found = self._context.committed_positions(lookup)
            for stream in list(self._delivered):  # committed now: forget them (bounded set)
                if (p := found.get(stream)) is not None and p.cursor == EOF:
                    self._delivered.discard(stream)
        # else: keys after the watermark appeared after the last listing, nothing has them
        for v in fresh:
            p = found.get(v.stream)
            if p is not None and p.cursor == EOF:
                continue  # finished before (the ledger says so)
            self._starts[v.stream] = p.next if p is not None else 0
            bisect.insort(self._queue, v)
            self._queued.add(v.stream)
        if listed:  # every listed version is now finished, queued or delivered
            self._watermark = max(self._watermark, listed[-1].key)
        if self._queue:
            log.info("s3_objects_found", uri=self.uri, queued=len(self._queue), full=full)

    def _idle(self, seconds: float) -> None:
        """Wait for the next listing: ``seconds``, or until a notification arrives."""
        if self._notify is None:
            time.sleep(seconds)
            return
        t0 = time.monotonic()
        notified = self._notify.wait(seconds)
        if notified.receipts:
            # a notified key below the watermark needs a full listing (when it is safe)
            self._rescan_wanted |= any(k <= self._watermark for k in notified.keys)
            self._discover(full=self._can_rescan())
            self._notify.done(notified)
        else:
            time.sleep(max(0.0, seconds - (time.monotonic() - t0)))

    def _can_rescan(self) -> bool:
        """A full listing asks the sinks for positions: not while they write a batch (the
        worker polls the next batch meanwhile; a sink's connection is busy then)."""
        return self._rescan_wanted and self._in_flight <= 0

    def _maybe_discover(self) -> None:
        now = time.monotonic()
        if now - self._last_list < self.spec.poll_interval_s:
            return
        every = self.spec.rescan_interval_s
        self._rescan_wanted |= bool(every) and now - self._last_rescan >= every
        self._discover(full=self._can_rescan())

    # -- reading -------------------------------------------------------------------------

    def _get(self, v: ObjectVersion) -> tuple[bytes, bool]:
        """The object's bytes, gunzipped here when whole and sound (in the fetch threads:
        zlib releases the GIL), and whether they were."""
        response = self.client.get_object(Bucket=v.bucket, Key=v.key, IfMatch=v.etag)
        return gunzip_whole(response["Body"].read())

    def _prefetch(self) -> None:
        """Start fetching the next small queued objects (GET latency overlaps the work)."""
        ahead = self.spec.prefetch_objects
        if not ahead:
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(ahead, thread_name_prefix="s3-fetch")
        for v in self._queue[:ahead]:
            if v.stream not in self._fetched and v.size <= PREFETCH_MAX_BYTES:
                self._fetched[v.stream] = self._pool.submit(self._get, v)

    def _open(self, v: ObjectVersion) -> tuple[Guarded, bool]:
        """The object's text and whether it was gzip: fetched ahead, fetched now (small),
        or streamed (large)."""
        future = self._fetched.pop(v.stream, None)
        if future is not None:
            return open_fetched(*future.result())
        if v.size <= PREFETCH_MAX_BYTES:
            return open_fetched(*self._get(v))
        return open_object(
            self.client.get_object(Bucket=v.bucket, Key=v.key, IfMatch=v.etag)["Body"]
        )

    def _records(self, v: ObjectVersion, start: int) -> Iterator[RecordChunk]:
        """The chunks of object version ``v`` from line ``start``; a record explaining
        unreadable input at the end (see the module docstring)."""
        try:
            stream, is_gzip = self._open(v)
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code not in ("NoSuchKey", "PreconditionFailed", "412", "404"):
                raise
            log.warning("s3_object_gone", key=v.key, etag=v.etag, start=start)
            yield RecordChunk(start, [source_error("object_gone", gone_message(v, start))])
            return
        end = 0  # one past the last line seen
        try:
            # counted in the transcoded text, like the file source
            file = transcoded(cast("BinaryIO", stream), self._encoding)
            chunks = read_chunks(self._format, file, self.spec.chunk_records, self._max_bytes)
            for chunk in chunks:
                end = chunk.first_seq + len(chunk)
                skip = start - chunk.first_seq
                if skip >= len(chunk):
                    continue
                if skip > 0:
                    chunk = chunk.split(skip)[1]
                yield chunk
        finally:
            stream.close()
        seq = max(end, start)
        if stream.error is not None:
            what = "gzip stream" if is_gzip else "object"
            message = f"{what} of {v.key!r} unreadable after {end} lines: {stream.error}"
            log.warning("s3_object_damaged", key=v.key, etag=v.etag, error=stream.error)
            yield RecordChunk(seq, [source_error("unreadable_object", message)])
        elif end == 0:
            message = f"object {v.key!r} ({v.size} bytes) holds no records"
            yield RecordChunk(seq, [source_error("empty_object", message)])

    def _next_chunk(self) -> RecordChunk | None:
        """The next chunk to deliver, opening the next queued object when one ends."""
        while True:
            if self._chunks is not None:
                chunk = self._read_chunk()
                if chunk is not None:
                    return chunk
                self._finish_object(eof_delivered=False)
            if not self._queue:
                return None
            v = self._queue.pop(0)
            self._prefetch()
            self._queued.discard(v.stream)
            self._current = v
            self._chunks = self._records(v, self._starts.get(v.stream, 0))

    def _read_chunk(self) -> RecordChunk | None:
        assert self._chunks is not None and self._current is not None
        try:
            return next(self._chunks, None)
        except InputError:
            raise
        except Exception:
            self._reopen_later()
            raise

    def _reopen_later(self) -> None:
        """A read failed (network): read the object again later from what is undelivered."""
        v = self._current
        if v is None:
            return
        self._close_object()
        bisect.insort(self._queue, v)
        self._queued.add(v.stream)
        self._current = None

    def _close_object(self) -> None:
        if self._chunks is not None and hasattr(self._chunks, "close"):
            self._chunks.close()
        self._chunks = None

    def _finish_object(self, eof_delivered: bool) -> None:
        v = self._current
        assert v is not None
        self._close_object()
        self._current = None
        self._starts.pop(v.stream, None)
        self._delivered.add(v.stream)
        self.objects_done += 1
        if not eof_delivered:  # resumed past its last line without the eof mark: harmless
            log.info("s3_object_resumed_at_end", key=v.key, etag=v.etag)

    def poll(self, max_records: int, max_wait_s: float) -> RawBatch:
        batch = RawBatch(source=self.uri, uri_sep=self.spec.uri_sep)
        span = columns_span_streams(self._format)
        t0 = time.monotonic()
        if not self._queue and self._current is None and self._pending is None:
            self._maybe_discover()
        while len(batch) < max_records:
            chunk = self._pending
            self._pending = None
            if chunk is None:
                try:
                    chunk = self._next_chunk()
                except Exception:
                    if len(batch):
                        break  # deliver what we have; the error comes back next poll
                    raise
            if chunk is None:
                break
            v = self._current
            assert v is not None
            if not joins(batch, v.stream, chunk, span):
                self._pending = chunk  # another kind of chunk, or another object's: next batch
                break
            take = max_records - len(batch)
            rest: RecordChunk | None = None
            if len(chunk) > take:
                chunk, rest = chunk.split(take)
            else:  # look ahead: is this the object's last chunk? (before extending)
                try:
                    rest = self._read_chunk()
                except Exception:
                    self._starts[v.stream] = chunk.first_seq
                    if len(batch):
                        break
                    raise
            n = len(chunk)
            add_chunk(batch, v.stream, chunk, v.modified_ms)
            self._starts[v.stream] = chunk.first_seq + n
            if rest is None:
                batch.cursors[v.stream] = EOF
                self._finish_object(eof_delivered=True)
            else:
                self._pending = rest
            if time.monotonic() - t0 > max_wait_s:
                break
        if not len(batch) and self._current is None:
            wait = self.spec.poll_interval_s - (time.monotonic() - self._last_list)
            self._idle(max(0.0, min(wait, max_wait_s)))
        self.busy_s = time.monotonic() - t0
        self._in_flight += len(batch) > 0
        return batch

    # -- the rest of the Source interface -------------------------------------------------

    def committed(self, positions: Positions) -> None:
        """The sinks wrote the last batch (the positions, the ledger, live in them)."""
        self._in_flight -= 1

    def drained(self) -> bool:
        """Exact: a full listing finds nothing left to read (the worker flushed and
        committed every delivered batch before asking)."""
        if self._queue or self._current is not None or self._pending is not None:
            return False
        self._in_flight = 0  # the worker asks with nothing in flight
        self._discover(full=True)
        return not self._queue

    def lag(self) -> dict[str, int]:
        return {}  # lines per object are unknown until read

    def close(self) -> None:
        self._close_object()
        self._pending = None
        for future in self._fetched.values():
            future.cancel()
        self._fetched.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


SPEC = ObjectSourceSpec
SOURCE = ObjectSource
