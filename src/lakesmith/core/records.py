"""The raw batch a source hands to the pipeline, whatever the source kind.

Records are parallel lists (sources fill them from C calls or bulk splits; the envelope
turns them into one Polars frame at once). Streams are interned: ``stream_ids`` holds a
small int per record and ``streams`` maps it to the stream's name, so a source with
one stream (a file) or a few (Kafka partitions) never builds a string per record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

import polars as pl

from lakesmith.core.positions import Position, Positions


@dataclass(frozen=True)
class Run:
    """Records added at once (``RawBatch.add_records``): seqs ``first_seq`` …
    ``first_seq + n - 1`` of one stream, with one source timestamp."""

    stream_id: int
    first_seq: int
    n: int
    timestamp_ms: int | None


@dataclass
class RawBatch:
    """Records of one source as parallel lists.

    ``uri_sep`` joins a stream name and a seq into the record's ``_source`` URI
    (``kafka://iot.telemetry/3`` + ``/`` + ``1042``; ``file:///x.csv`` + ``#row=`` + ``88``).
    ``context`` carries per-stream decoding context (a CSV header line); ``cursors``
    the resume token of each stream *after* this batch, for cursor-based sources.

    A source that reads typed data hands its records decoded instead of as payload
    bytes (``add_records``): ``records`` is a frame with one row per record (in the order
    of ``seqs``) and ``record_payloads`` each row's payload for bronze (its JSON, made in
    bulk by ``formats.records.json_payloads``); ``payloads`` then stays empty and the
    ``records`` decoder replaces the contract's format (``formats.records``). A source
    that split its records into columns the way a format does (clean CSV blocks, JSON
    lines as views of the block they were read in) names that format in
    ``records_format``: its ``decode_columns`` maps them to the contract instead. Such a
    batch may gather several runs of records (``add_records`` once per run; a blank line
    ends a run), of several streams when the format's columns allow it. Its coordinates
    are kept per run (``runs``), not per record: the per-record lists stay empty, and
    ``seq_column`` / ``stream_id_column`` / ``timestamp_column`` give either kind's as
    columns.
    """

    source: str  # the source's identity, e.g. kafka://iot.telemetry
    uri_sep: str = "/"
    streams: dict[int, str] = field(default_factory=dict)
    stream_ids: list[int] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)
    keys: list[bytes | None] = field(default_factory=list)
    payloads: list[bytes | None] = field(default_factory=list)
    timestamps_ms: list[int | None] = field(default_factory=list)
    context: dict[str, bytes] = field(default_factory=dict)
    cursors: dict[str, str] = field(default_factory=dict)
    records: pl.DataFrame | None = None
    record_payloads: pl.Series | None = None
    records_format: str | None = None
    runs: list[Run] = field(default_factory=list)  # the ``add_records`` runs, in order

    def __len__(self) -> int:
        return len(self.seqs) + sum(r.n for r in self.runs)

    @property
    def first_seq(self) -> int | None:
        """The first seq of a batch of one ``add_records`` run (else None)."""
        return self.runs[0].first_seq if len(self.runs) == 1 else None

    def seq_column(self) -> pl.Series:
        """Every record's seq, in order (from the runs, or the list)."""
        if not self.runs:
            return pl.Series("seq", self.seqs, dtype=pl.Int64)
        return _joined(
            "seq",
            (
                pl.int_range(r.first_seq, r.first_seq + r.n, dtype=pl.Int64, eager=True)
                for r in self.runs
            ),
        )

    def stream_id_column(self) -> pl.Series:
        """Every record's stream id (a key of ``streams``), in order."""
        if not self.runs:
            return pl.Series("stream_id", self.stream_ids, dtype=pl.Int32)
        return _joined(
            "stream_id",
            (pl.repeat(r.stream_id, r.n, dtype=pl.Int32, eager=True) for r in self.runs),
        )

    def timestamp_column(self) -> pl.Series:
        """Every record's source timestamp (epoch ms, or null), in order."""
        if not self.runs:
            return pl.Series("timestamp_ms", self.timestamps_ms, dtype=pl.Int64)
        return _joined(
            "timestamp_ms",
            (pl.repeat(r.timestamp_ms, r.n, dtype=pl.Int64, eager=True) for r in self.runs),
        )

    def extend(
        self,
        stream: str,
        seqs: list[int],
        payloads: list[bytes | None],
        keys: list[bytes | None] | None = None,
        timestamps_ms: list[int | None] | None = None,
    ) -> None:
        """Append records of one stream (the common case for file-like sources)."""
        if self.records is not None:
            raise ValueError("a RawBatch holds either payloads or frames of records")
        sid = self.stream_id(stream)
        n = len(seqs)
        self.stream_ids.extend([sid] * n)
        self.seqs.extend(seqs)
        self.payloads.extend(payloads)
        self.keys.extend(keys if keys is not None else [None] * n)
        self.timestamps_ms.extend(timestamps_ms if timestamps_ms is not None else [None] * n)

    def add_records(
        self,
        stream: str,
        first_seq: int,
        records: pl.DataFrame,
        payloads: pl.Series,
        *,
        timestamp_ms: int | None = None,
        records_format: str | None = None,
    ) -> None:
        """Add a run of records, already decoded: one row of ``records`` (and one
        payload) per record, seqs ``first_seq``, ``first_seq + 1``, … of ``stream``;
        ``timestamp_ms`` the source timestamp of all of them (a file's modified time).
        Runs added later (the same ``records_format``, the same columns) follow them."""
        if self.payloads:
            raise ValueError("a RawBatch holds either payloads or frames of records")
        if self.records is not None and records_format != self.records_format:
            raise ValueError(f"records of {records_format} after {self.records_format}")
        if payloads.len() != records.height:
            raise ValueError(f"{records.height} records but {payloads.len()} payloads")
        if records.height:
            self.runs.append(Run(self.stream_id(stream), first_seq, records.height, timestamp_ms))
        if self.records is None or self.record_payloads is None:
            self.records, self.record_payloads = records, payloads
            self.records_format = records_format
        else:
            self.records = pl.concat([self.records, records])
            self.record_payloads = pl.concat([self.record_payloads, payloads])

    def stream_id(self, stream: str) -> int:
        for sid, name in self.streams.items():
            if name == stream:
                return sid
        sid = len(self.streams)
        self.streams[sid] = stream
        return sid

    def _ranges(self) -> pl.DataFrame:
        schema = {"s": pl.Int32, "lo": pl.Int64, "hi": pl.Int64}
        if self.runs:  # a few runs of consecutive seqs: no pass over the records
            bounds: dict[int, tuple[int, int]] = {}
            for r in self.runs:
                lo, hi = bounds.get(r.stream_id, (r.first_seq, r.first_seq + r.n - 1))
                bounds[r.stream_id] = (min(lo, r.first_seq), max(hi, r.first_seq + r.n - 1))
            rows = [(s, lo, hi) for s, (lo, hi) in sorted(bounds.items())]
            return pl.DataFrame(rows, schema=schema, orient="row")
        if len(self.streams) == 1 and self.seqs:  # one stream (most sources): no frame
            (sid,) = self.streams
            lo, hi = min(self.seqs), max(self.seqs)
            return pl.DataFrame({"s": [sid], "lo": [lo], "hi": [hi]}, schema=schema)
        frame = pl.DataFrame(
            {"s": self.stream_ids, "q": self.seqs}, schema={"s": pl.Int32, "q": pl.Int64}
        )
        return (
            frame.group_by("s")
            .agg(pl.col("q").min().alias("lo"), pl.col("q").max().alias("hi"))
            .sort("s")
        )

    def next_positions(self) -> Positions:
        """Stream → next position after this batch (cursor included when the source set one)."""
        out: Positions = {}
        for sid, _, hi in self._ranges().iter_rows():
            name = self.streams[sid]
            out[name] = Position(hi + 1, self.cursors.get(name))
        return out

    def batch_id(self) -> str:
        """Deterministic from the source and the seq ranges the batch covers."""
        parts = sorted(f"{self.streams[s]}:{lo}-{hi}" for s, lo, hi in self._ranges().iter_rows())
        text = self.source + ";" + ";".join(parts)
        return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


def _joined(name: str, parts: Iterable[pl.Series]) -> pl.Series:
    return pl.concat(list(parts), rechunk=True).alias(name)


def stream_tag(stream: str) -> str:
    """Short stable hash of a stream name (the prefix of its records' ids)."""
    return hashlib.blake2b(stream.encode(), digest_size=6).hexdigest()
