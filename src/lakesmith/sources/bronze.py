"""The ``bronze`` source kind: a dataset's bronze table read back as its original records,
for ``lakesmith reprocess DATASET --from bronze`` (the landing data may be gone).

``source: {kind: bronze, dataset: music.events, uri_sep: "#line="}`` (``reprocess`` writes
it from the dataset's own contract). Each record comes back with its original stream,
seq, key, payload and source time, so ``_source`` and ``_record_id`` are the same as the
first time and the sinks' positions work as for any source. Streams are delivered in the
order they were first ingested (the order dedupe saw them), each in seq order, with the
decoding context recorded when they were first processed (a CSV file's header:
``stores.stream_context``). Memory:
the ``(_stream, _seq, _ingested_at)`` columns once, then a group of streams of about
``chunk_records`` rows at a time (one scan per group, filtered on ``_stream``).
"""

from __future__ import annotations

import time
from typing import Literal

import polars as pl
from pydantic import Field

from lakesmith.contracts.model import SourceSpec
from lakesmith.core.columns import INGESTED_AT, KEY, PAYLOAD, SEQ, SOURCE_TS, STREAM
from lakesmith.core.errors import ContractError
from lakesmith.core.positions import Position, Positions
from lakesmith.core.records import RawBatch
from lakesmith.sources.base import SourceContext


class BronzeSourceSpec(SourceSpec):
    """``source: {kind: bronze, dataset: NAME, uri_sep: SEP}``"""

    kind: Literal["bronze"] = "bronze"
    dataset: str = Field(description="the dataset whose bronze table is read")
    source_uri: str = Field("", description="the original source's URI (batch ids)")
    original_uri_sep: str = Field("/", description="the original source's uri_sep")
    chunk_records: int = Field(50_000, ge=1)

    @property
    def uri(self) -> str:
        return self.source_uri or f"bronze://{self.dataset}"

    @property
    def uri_sep(self) -> str:
        return self.original_uri_sep


class BronzeSource:
    def __init__(self, context: SourceContext) -> None:
        from lakesmith.pipeline.dataset import Dataset

        spec = context.contract.source
        if not isinstance(spec, BronzeSourceSpec):
            raise ContractError(f"this needs a bronze source; the source is {spec.kind!r}")
        self.spec = spec
        self._dataset = Dataset(context.settings, context.contract)
        index = self._dataset.bronze.scan([STREAM, SEQ, INGESTED_AT])
        per_stream = (
            index.group_by(STREAM)
            .agg(pl.len().alias("n"), pl.col(INGESTED_AT).min().alias("first"))
            .sort("first", STREAM)
        )
        streams = per_stream[STREAM].to_list()
        starts = context.resume(streams)
        self._groups: list[list[str]] = []
        group: list[str] = []
        rows = 0
        for stream, n in zip(streams, per_stream["n"].to_list(), strict=True):
            group.append(stream)
            rows += n
            if rows >= spec.chunk_records:
                self._groups.append(group)
                group, rows = [], 0
        if group:
            self._groups.append(group)
        self._starts: Positions = starts
        # what the records need besides their bytes (a CSV file's header), per stream
        self._contexts = self._dataset.stream_contexts.load(streams)
        self._frame: pl.DataFrame | None = None  # the rest of the current group
        self.busy_s = 0.0

    def _load(self) -> pl.DataFrame | None:
        while self._groups:
            group = self._groups.pop(0)
            frame = self._dataset.bronze.scan(
                [STREAM, SEQ, KEY, PAYLOAD, SOURCE_TS], [(STREAM, "in", group)]
            )
            floor = pl.col(STREAM).replace_strict(
                {s: self._starts.get(s, Position(0)).next for s in group},
                default=0,
                return_dtype=pl.Int64,
            )
            order = pl.col(STREAM).replace_strict(
                {s: i for i, s in enumerate(group)}, return_dtype=pl.Int64
            )
            frame = (
                frame.filter(pl.col(SEQ) >= floor)
                .unique([STREAM, SEQ], keep="first")
                .sort(order, SEQ)
            )
            if frame.height:
                return frame
        return None

    def poll(self, max_records: int, max_wait_s: float) -> RawBatch:
        t0 = time.monotonic()
        batch = RawBatch(source=self.spec.uri, uri_sep=self.spec.uri_sep)
        if self._frame is None or self._frame.height == 0:
            self._frame = self._load()
        if self._frame is not None:
            part, self._frame = self._frame.head(max_records), self._frame.slice(max_records)
            for (stream,), rows in part.group_by(STREAM, maintain_order=True):
                ts = rows[SOURCE_TS].dt.epoch("ms").to_list()
                batch.extend(
                    str(stream),
                    rows[SEQ].to_list(),
                    rows[PAYLOAD].to_list(),
                    keys=rows[KEY].cast(pl.Binary).to_list(),
                    timestamps_ms=ts,
                )
                if (context := self._contexts.get(str(stream))) is not None:
                    batch.context[str(stream)] = context
        self.busy_s = time.monotonic() - t0
        return batch

    def committed(self, positions: Positions) -> None:
        """Nothing to do: positions live in the sinks."""

    def drained(self) -> bool:
        return not self._groups and (self._frame is None or self._frame.height == 0)

    def lag(self) -> dict[str, int]:
        return {}

    def close(self) -> None:
        self._dataset.close()


SPEC = BronzeSourceSpec
SOURCE = BronzeSource
