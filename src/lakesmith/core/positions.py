"""Source positions: what every sink commits *with* its data (ARCHITECTURE decision 2).

A source splits its data into **streams** (a Kafka partition, a file, an object version,
an API endpoint, a table) and numbers the records of each stream with an increasing
``seq`` (offset, row, line, running count). A position is, per stream, the next ``seq``
to read plus an optional opaque ``cursor`` the source resumes from (a page token, a
watermark); stores treat both as opaque values and serialise them with ``dumps``.

Every sink drops rows whose ``seq`` is below its committed position for their stream
(``unseen``), so a worker can always resume from the *lowest* position over all sinks
(``lowest``) and replay harmlessly into sinks that were further ahead.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from lakesmith.core.columns import SEQ, STREAM


@dataclass(frozen=True, order=True)
class Position:
    next: int  # the next seq to read in the stream
    cursor: str | None = None  # opaque resume token for sources that resume by value


Positions = dict[str, Position]  # stream → position


def merge(base: Mapping[str, Position], new: Mapping[str, Position]) -> Positions:
    """Union of ``base`` and ``new``; per stream the further position wins."""
    out = dict(base)
    for stream, pos in new.items():
        old = out.get(stream)
        if old is None or pos.next >= old.next:
            out[stream] = pos
    return out


def lowest(per_sink: Iterable[Mapping[str, Position]], streams: Iterable[str]) -> Positions:
    """Per stream, the position of the sink that is furthest behind (absent = start)."""
    sinks = list(per_sink)
    out: Positions = {}
    for s in streams:
        found = [p.get(s) for p in sinks]
        if any(f is None for f in found) or not found:
            continue  # some sink has nothing for it: start the stream from the beginning
        # by ``next`` only: at the same ``next`` a sink that kept no cursor (a store
        # without cursors) must not hide it, nor make ``min`` compare None with a string
        out[s] = min((f for f in found if f is not None), key=lambda p: (p.next, p.cursor is None))
    return out


def covers(committed: Mapping[str, Position], positions: Mapping[str, Position]) -> bool:
    """True when ``committed`` is at or beyond every position of ``positions``."""
    return all(s in committed and committed[s].next >= p.next for s, p in positions.items())


def dumps(positions: Mapping[str, Position]) -> str:
    """Compact, sorted JSON: ``{"stream": next}`` or ``{"stream": [next, cursor]}``."""
    return json.dumps(
        {
            s: (p.next if p.cursor is None else [p.next, p.cursor])
            for s, p in sorted(positions.items())
        },
        separators=(",", ":"),
    )


def loads(text: str | None) -> Positions:
    if not text:
        return {}
    raw = json.loads(text)
    return {
        s: Position(int(v)) if isinstance(v, int) else Position(int(v[0]), v[1])
        for s, v in raw.items()
    }


def unseen(frame: pl.DataFrame, committed: Mapping[str, Position]) -> pl.DataFrame:
    """Rows of ``frame`` (with ``_stream``/``_seq``) at or beyond the committed positions."""
    if not committed or frame.height == 0:
        return frame
    floor = (
        pl.col(STREAM)
        .cast(pl.String)
        .replace_strict({s: p.next for s, p in committed.items()}, default=0, return_dtype=pl.Int64)
    )
    keep = frame.select(pl.col(SEQ) >= floor).to_series()
    return frame if keep.all() else frame.filter(keep)  # the usual case: nothing to drop


def unseen_arrow(data: pa.Table, committed: Mapping[str, Position]) -> pa.Table:
    """``unseen`` for an Arrow table."""
    if not committed or data.num_rows == 0:
        return data
    streams = data.column(STREAM)
    floor = pc.fill_null(
        pc.take(
            pa.array([p.next for p in committed.values()], pa.int64()),
            pc.index_in(streams, value_set=pa.array(list(committed), streams.type)),
        ),
        0,
    )
    keep = pc.greater_equal(data.column(SEQ), floor)
    # the usual case drops nothing: no filtered copy of the whole table (the payloads)
    return data if pc.all(keep).as_py() else data.filter(keep)
