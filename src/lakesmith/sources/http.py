"""The ``http`` source kind: a paged JSON API read incrementally by a cursor field.

``source: {kind: http, url: …, records_path: data, pagination: {…}, incremental: {field:
updated_at, param: updated_since}, auth: {…}}`` (``sources/http_spec.py``; requests,
retries and pages in ``sources/http_client.py``; reference: docs/http-source.md).

**Passes.** A *pass* pages through everything changed since the committed cursor value:
the first request sends ``incremental.param`` = that value, the next requests follow the
pagination. When the last page has been read, the greatest ``incremental.field`` value of
the pass becomes the value of the next pass, which starts ``poll_interval_s`` later (or
on the next ``lakesmith run``). ``max_pages`` pauses a pass: the rest waits for the next
run, which continues the same pass.

**Stream, seq, position.** One stream per endpoint: the contract's URL plus its fixed
``params`` (``https://api.example.com/v2/tickets``); ``seq`` counts the records ever read
from it, across passes and runs. The position committed with the data is that count plus
a cursor ``{"since", "hi", "req"}``: the pass's cursor value, the greatest value seen so
far in it, and the request of the next page (``null`` between passes). Batches hold whole
pages, so a restart after a crash re-issues exactly the next page not committed by every
sink, numbering its records as before: no gap, and the sinks drop what they already hold.
When the API's data changed in between (page *numbers* shift when rows are updated), the
pages read again may hold records delivered before; silver drops them by the contract's
natural ``keys`` (include the cursor field, e.g. ``[id, updated_at]``: a record updated
later is a new version, the same version twice is a duplicate).

Records land in bronze as the server sent them (the bytes of each array element) with
``_source = <stream>?<param>=<pass value>#<seq>`` — never a credential; the payload format
(``json``) decodes the contract's fields (dotted ``path``s flatten nested objects) and bad
records go to quarantine with their rule. Pages that stay unreadable (not JSON, no records
at ``records_path``, over ``max_page_bytes``) stop the run with a ``SourceError``: nothing
of such a page is committed, so the next run asks for it again.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import msgspec
import polars as pl

from lakesmith.core.errors import ContractError, SourceError
from lakesmith.core.logging import get_logger
from lakesmith.core.positions import Position, Positions
from lakesmith.core.records import RawBatch
from lakesmith.quality.typing import iso_with_zone
from lakesmith.sources.base import SourceContext
from lakesmith.sources.http_spec import HttpSourceSpec, IncrementalSpec

if TYPE_CHECKING:
    from lakesmith.sources.http_client import Page, PageClient, PageRequest

log = get_logger(__name__)


def _cursor_decoder(field: str) -> msgspec.json.Decoder[Any]:
    """A decoder of a page's records that keeps only the dotted ``field`` (msgspec skips
    the rest in C: ~1 µs per record)."""
    typ: Any = str | int | float | None
    for part in reversed(field.split(".")):
        typ = msgspec.defstruct("Cursor", [("v", typ, None)], rename={"v": part}) | None
    return msgspec.json.Decoder(list[typ])


_DECODERS: dict[str, msgspec.json.Decoder[Any]] = {}


def _cursor_values(records: list[bytes], field: str) -> pl.Series:
    """The text of ``field`` in each record that has one (numbers as their JSON text)."""
    decoder = _DECODERS.get(field) or _DECODERS.setdefault(field, _cursor_decoder(field))
    depth = field.count(".") + 1
    try:
        found = decoder.decode(b"[" + b",".join(records) + b"]")
    except (msgspec.DecodeError, RecursionError):  # not an object, another type, too deep
        texts = pl.Series(records, dtype=pl.Binary).cast(pl.String, strict=False)
        return texts.str.json_path_match("$." + field).drop_nulls()
    values = []
    for item in found:
        for _ in range(depth):
            item = item.v if item is not None else None
        if item is not None:
            values.append(str(item))
    return pl.Series(values, dtype=pl.String)


def greatest(records: list[bytes], inc: IncrementalSpec) -> str | None:
    """The greatest ``inc.field`` value of ``records`` (raw JSON objects), as sent back to
    the API; None when no record has one."""
    if not records:
        return None
    values = _cursor_values(records, inc.field)
    if values.is_empty():
        return None
    if inc.type == "string":
        top = values.max()
        return str(top) if top is not None else None
    is_int = inc.type == "integer"
    order = values.cast(pl.Int64, strict=False) if is_int else iso_with_zone(values)
    at = order.arg_max()
    return None if at is None else str(values[at])


def _later(a: str | None, b: str | None, inc: IncrementalSpec) -> str | None:
    """The later of two cursor values (either may be None)."""
    if a is None or b is None:
        return a if b is None else b
    if inc.type == "integer":
        return a if int(a) >= int(b) else b
    if inc.type == "timestamp":
        return a if datetime.fromisoformat(a) >= datetime.fromisoformat(b) else b
    return max(a, b)


class HttpSource:
    """Pages through an API endpoint, pass after pass, from the committed cursor."""

    def __init__(self, context: SourceContext) -> None:
        spec = context.contract.source
        if not isinstance(spec, HttpSourceSpec):
            raise ContractError(
                f"this needs an http source; the contract's source is {spec.kind!r}"
            )
        from lakesmith.sources.http_client import PageClient, PageRequest

        self.spec = spec
        self.stream = spec.uri
        self.client: PageClient = PageClient(spec)
        inc = spec.incremental
        start = context.resume([self.stream]).get(self.stream, Position(0))
        self.seq = start.next
        state: dict[str, Any] = json.loads(start.cursor) if start.cursor else {}
        if start.next and not start.cursor:  # a store that lost it: read from the start
            log.warning("http_cursor_missing", endpoint=self.stream, next=start.next)
        self.since: str | None = state.get("since", inc.initial if inc else None)
        self.hi: str | None = state.get("hi")
        req = state.get("req")
        self.req: PageRequest | None = PageRequest.from_state(req) if req else None
        self._paused = False  # max_pages reached: the pass goes on in the next run
        self._last_end: float | None = None  # when the last pass ended (or paused)
        self._pages_run = 0
        self._pass_first = self.seq  # seq of the pass's first record
        self._digest: bytes | None = None  # of the last page's records
        self.pages = 0
        self.passes = 0
        self.busy_s = 0.0
        log.info(
            "http_source_opened", endpoint=self.client.redact(self.stream), next=self.seq,
            since=self.since, resuming_pass=self.req is not None,
        )  # fmt: skip

    def _sep(self) -> str:
        inc = self.spec.incremental
        if inc is None or self.since is None:
            return "#"
        joiner = "&" if "?" in self.stream else "?"
        return f"{joiner}{quote(inc.param)}={quote(self.since, safe=':')}#"

    def _cursor(self) -> str:
        req = self.req.state() if self.req is not None else None
        return json.dumps({"since": self.since, "hi": self.hi, "req": req}, separators=(",", ":"))

    def _due(self) -> float:
        """Seconds until the next pass may start (0: now)."""
        if self._last_end is None:
            return 0.0
        return max(0.0, self._last_end + self.spec.poll_interval_s - time.monotonic())

    def _check_progress(self, page: Page) -> None:
        """A pagination that never ends: the next request is this one, or a page holds the
        same records as the one before (an API that ignores the page parameter)."""
        digest = hashlib.blake2b(b"\0".join(page.records), digest_size=16).digest()
        same = page.next is not None and (page.next == self.req or digest == self._digest)
        self._digest = digest if page.records else None
        if same:
            p = self.spec.pagination
            params = {"page": p.page_param, "offset": p.offset_param, "cursor": p.cursor_param}
            ignored = params.get(p.style, "its own next link")
            raise SourceError(
                f"{self.stream}: the API answered the same page again ({p.style} pagination "
                "would never end)",
                hint=f"check pagination in the contract: the API seems to ignore {ignored}",
            )

    def poll(self, max_records: int, max_wait_s: float) -> RawBatch:
        t0 = time.monotonic()
        if self.req is None or self._paused:
            wait = self._due()
            if wait > 0:
                time.sleep(min(wait, max_wait_s))
                self.busy_s = 0.0
                return RawBatch(source=self.stream, uri_sep=self._sep())
            if self.req is None:  # a new pass from the committed value
                self.req = self.client.first_request()
                self.hi = None
                self._pass_first = self.seq
                self._digest = None
                self.passes += 1
            self._paused = False
            self._pages_run = 0
        batch = RawBatch(source=self.stream, uri_sep=self._sep())
        inc = self.spec.incremental
        while len(batch) < max_records:
            assert self.req is not None
            page = self.client.fetch(self.req, self.since)
            self.pages += 1
            self._pages_run += 1
            n = len(page.records)
            self._check_progress(page)
            if n:
                batch.extend(self.stream, list(range(self.seq, self.seq + n)), list(page.records))
                self.seq += n
                if inc is not None:
                    self.hi = _later(self.hi, greatest(page.records, inc), inc)
            self.req = page.next
            if self.req is None:  # the pass is over: its greatest value is the next one's
                if inc is not None and self.hi is None and self.seq > self._pass_first:
                    log.warning(
                        "http_cursor_field_missing", endpoint=self.stream, field=inc.field,
                        hint="no record of the pass has it: the next pass reads them again",
                    )  # fmt: skip
                self.since = self.hi if self.hi is not None else self.since
                self.hi = None
                self._last_end = time.monotonic()
                log.info("http_pass_done", endpoint=self.stream, next=self.seq, since=self.since)
                break
            if self.spec.max_pages is not None and self._pages_run >= self.spec.max_pages:
                self._paused = True
                self._last_end = time.monotonic()
                log.info("http_pass_paused", endpoint=self.stream, pages=self._pages_run)
                break
            if time.monotonic() - t0 > max_wait_s:
                break
        batch.cursors[self.stream] = self._cursor()
        self.busy_s = time.monotonic() - t0
        return batch

    def committed(self, positions: Positions) -> None:
        pass  # the sinks hold the positions (and the cursor) with the data

    def drained(self) -> bool:
        """The pass is over (or paused at ``max_pages``): everything the API listed was
        delivered (the worker asks once the delivered batches are committed)."""
        return self.req is None or self._paused

    def lag(self) -> dict[str, int]:
        return {}  # an API does not say how much is waiting

    def close(self) -> None:
        self.client.close()


SPEC = HttpSourceSpec
SOURCE = HttpSource
