"""The ``api`` source kind: records written through the REST API, delivered once to the
ordinary worker (``lakesmith.api.services.raw`` builds it per request).

One request is one stream, ``api://DATASET/REQUEST/OP`` (``REQUEST`` sorts by time, ``OP``
is ``put`` or ``delete``), its records seq 0…n-1, each with its identity as the message
key. So bronze gets ``_source = api://files.sales/20261203T151200123456Z-1a2b3c4d/put/0``
and ``_key = <id>``, and the sinks commit the stream's position with the rows like any
other source: a retried request is a new stream, a replayed one is dropped. A delete is a
tombstone: the record's last version again, under a ``…/delete`` stream. ``reprocess
--from bronze`` re-delivers the same streams and seqs (the ``bronze`` source kind).
"""

from __future__ import annotations

import time
from typing import Literal

import polars as pl
from pydantic import Field

from lakesmith.contracts.model import SourceSpec
from lakesmith.core.columns import STREAM
from lakesmith.core.errors import ContractError
from lakesmith.core.positions import Positions
from lakesmith.core.records import RawBatch
from lakesmith.sources.base import SourceContext

Op = Literal["put", "delete"]


def stream_name(dataset: str, request: str, op: Op) -> str:
    return f"api://{dataset}/{request}/{op}"


def tombstone_streams() -> pl.Expr:
    """True for rows delivered under a delete stream (``api://DATASET/REQUEST/delete``)."""
    stream = pl.col(STREAM).cast(pl.String)
    return stream.str.starts_with("api://") & stream.str.ends_with("/delete")


class ApiSourceSpec(SourceSpec):
    """In memory only (never in a contract file): one request's records."""

    kind: Literal["api"] = "api"
    dataset: str
    stream: str
    keys: list[str] = Field(default_factory=list)
    payloads: list[bytes] = Field(default_factory=list)
    original_uri_sep: str = "/"

    @property
    def uri(self) -> str:
        return f"api://{self.dataset}"

    @property
    def uri_sep(self) -> str:
        return self.original_uri_sep


class ApiSource:
    def __init__(self, context: SourceContext) -> None:
        spec = context.contract.source
        if not isinstance(spec, ApiSourceSpec):
            raise ContractError(f"this needs an api source; the source is {spec.kind!r}")
        self.spec = spec
        start = context.resume([spec.stream]).get(spec.stream)
        self._next = start.next if start is not None else 0
        self.busy_s = 0.0

    def poll(self, max_records: int, max_wait_s: float) -> RawBatch:
        t0 = time.monotonic()
        spec = self.spec
        batch = RawBatch(source=spec.uri, uri_sep=spec.uri_sep)
        end = min(len(spec.payloads), self._next + max_records)
        if self._next < end:
            now_ms = int(time.time() * 1000)
            seqs = list(range(self._next, end))
            batch.extend(
                spec.stream,
                seqs,
                list(spec.payloads[self._next : end]),
                keys=[k.encode() for k in spec.keys[self._next : end]],
                timestamps_ms=[now_ms] * len(seqs),
            )
            self._next = end
        self.busy_s = time.monotonic() - t0
        return batch

    def committed(self, positions: Positions) -> None:
        """Nothing to do: positions live in the sinks."""

    def drained(self) -> bool:
        return self._next >= len(self.spec.payloads)

    def lag(self) -> dict[str, int]:
        return {self.spec.stream: len(self.spec.payloads) - self._next}

    def close(self) -> None:
        pass


SPEC = ApiSourceSpec
SOURCE = ApiSource
