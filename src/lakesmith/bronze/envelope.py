"""The record envelope every bronze row carries, built for a whole batch at once.

``_record_id`` is deterministic from the source coordinates — a short hash of the stream
plus the seq (``3f2a9c1e04b7:1042``) — so a replay produces the same id and ids never
collide across streams. ``_source`` spells the coordinates as a URI
(``kafka://iot.telemetry/3/1042``, ``file:///drop/x.csv@…#row=88``) for lineage.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl
import pyarrow as pa

from lakesmith.core.columns import (
    BATCH_ID,
    ENVELOPE_COLUMNS,
    INGESTED_AT,
    KEY,
    PAYLOAD,
    RECORD_ID,
    SEQ,
    SOURCE,
    SOURCE_TS,
    STREAM,
)
from lakesmith.core.records import RawBatch, stream_tag
from lakesmith.quality.typing import TIMESTAMP

_POLARS: dict[str, pl.DataType] = {
    "string": pl.String(),
    "int": pl.Int32(),
    "long": pl.Int64(),
    "binary": pl.Binary(),
    "timestamp": TIMESTAMP,
}
_SID = "__sid"


def as_stored(frame: pl.DataFrame) -> pa.Table:
    """A batch frame as the Arrow table the stores write (the stream as a plain string)."""
    if STREAM in frame.columns:
        frame = frame.with_columns(pl.col(STREAM).cast(pl.String))
    return frame.to_arrow()


def _coordinates(batch: RawBatch) -> pl.DataFrame:
    """The stream id, seq, key, payload and source timestamp of every record."""
    schema: dict[str, pl.DataType] = {
        _SID: pl.Int32(),
        SEQ: pl.Int64(),
        KEY: pl.Binary(),
        PAYLOAD: pl.Binary(),
        SOURCE_TS: pl.Int64(),
    }
    if batch.record_payloads is not None:
        # records added in runs (``add_records``): coordinates made per run, as columns,
        # not converted from lists of n Python objects
        return pl.DataFrame(
            [
                batch.stream_id_column().alias(_SID),
                batch.seq_column().alias(SEQ),
                pl.Series(KEY, dtype=pl.Binary).extend_constant(None, len(batch)),
                batch.record_payloads.cast(pl.Binary).alias(PAYLOAD),
                batch.timestamp_column().alias(SOURCE_TS),
            ]
        )
    return pl.DataFrame(
        {
            _SID: batch.stream_ids,
            SEQ: batch.seqs,
            KEY: batch.keys,
            PAYLOAD: batch.payloads,
            SOURCE_TS: batch.timestamps_ms,
        },
        schema=schema,
    )


def envelope(batch: RawBatch, batch_id: str, ingested_at: datetime) -> pl.DataFrame:
    """Bronze envelope columns for every record of ``batch`` (same row order)."""
    if not len(batch):
        return pl.DataFrame(schema={c.name: _POLARS[c.type] for c in ENVELOPE_COLUMNS})
    frame = _coordinates(batch)
    names = {sid: name for sid, name in batch.streams.items()}
    tags = {sid: stream_tag(name) for sid, name in batch.streams.items()}
    # In memory the stream is an Enum (one byte per row, not a string copied into every
    # frame derived from the batch); the sinks write it as a string (``as_stored``).
    streams = pl.Enum(sorted(set(names.values())))
    sid = pl.col(_SID)
    return frame.select(
        pl.format("{}:{}", sid.replace_strict(tags, return_dtype=pl.String), pl.col(SEQ)).alias(
            RECORD_ID
        ),
        pl.format(
            "{}{}{}",
            sid.replace_strict(names, return_dtype=pl.String),
            pl.lit(batch.uri_sep),
            pl.col(SEQ),
        ).alias(SOURCE),
        sid.replace_strict(names, return_dtype=streams).alias(STREAM),
        SEQ,
        pl.col(KEY).cast(pl.String, strict=False).alias(KEY),
        PAYLOAD,
        pl.from_epoch(SOURCE_TS, time_unit="ms")
        .dt.replace_time_zone("UTC")
        .cast(TIMESTAMP)
        .alias(SOURCE_TS),
        pl.lit(ingested_at).cast(TIMESTAMP).alias(INGESTED_AT),
        pl.lit(batch_id).alias(BATCH_ID),
    )
