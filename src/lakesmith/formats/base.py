"""The payload format interface (``payload.format`` in a contract).

A format does two jobs, both in bulk (no per-record Python in the hot path):

- ``decode(batch, contract)``: the records' payload bytes → one *text* column per contract
  field (typing happens in ``quality.typing``) plus ``_parse_error``/``_parse_detail``
  (rule id and message, null when the record decoded), one row per record, in order;
- ``read(file, chunk_records)``: split a file or object into record payloads, for the
  sources that receive whole files (``file``, object stores). Formats that only ever
  arrive one record per message may not implement it.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol, cast, runtime_checkable

import polars as pl
from isal import igzip, isal_zlib

from lakesmith.core.errors import InputError

if TYPE_CHECKING:
    from lakesmith.contracts.model import Contract
    from lakesmith.core.records import RawBatch

# Contract field types as Polars dtypes: what a decoder delivering typed records
# (``formats.records``) and the typing of text columns (``quality.typing``) produce.
POLARS_TYPES: dict[str, pl.DataType] = {
    "string": pl.String(),
    "long": pl.Int64(),
    "double": pl.Float64(),
    "boolean": pl.Boolean(),
    "timestamp": pl.Datetime("us", "UTC"),
}

PARSE_ERROR = "_parse_error"
PARSE_DETAIL = "_parse_detail"


@dataclass(frozen=True)
class Columns:
    """Records read column by column (a clean block of a CSV file): ``frame`` holds their
    fields as the format split them, ``payloads`` each record's raw bytes (Binary), and
    ``format`` names the format whose ``decode_columns`` maps them to the contract."""

    frame: pl.DataFrame
    payloads: pl.Series
    format: str

    def slice(self, offset: int, length: int | None = None) -> Columns:
        return Columns(
            self.frame.slice(offset, length), self.payloads.slice(offset, length), self.format
        )


@dataclass(frozen=True)
class RecordChunk:
    """Consecutive records of one file: payloads ``first_seq``, ``first_seq + 1``, …,
    as a list of bytes, or (``columns``; ``payloads`` empty) already split into columns."""

    first_seq: int
    payloads: list[bytes | None]
    context: bytes | None = None  # what decoding needs besides the payloads (a CSV header)
    columns: Columns | None = None

    def __len__(self) -> int:
        return self.columns.frame.height if self.columns is not None else len(self.payloads)

    def split(self, k: int) -> tuple[RecordChunk, RecordChunk]:
        """The first ``k`` records and the rest."""
        c, seq, ctx = self.columns, self.first_seq, self.context
        if c is not None:
            return (
                RecordChunk(seq, [], ctx, c.slice(0, k)),
                RecordChunk(seq + k, [], ctx, c.slice(k)),
            )
        return (
            RecordChunk(seq, self.payloads[:k], ctx),
            RecordChunk(seq + k, self.payloads[k:], ctx),
        )


class Format(Protocol):
    name: str

    def decode(self, batch: RawBatch, contract: Contract) -> pl.DataFrame: ...

    def read(self, file: BinaryIO, chunk_records: int, max_bytes: int) -> Iterator[RecordChunk]:
        """Records of ``file`` in chunks of at most ``chunk_records``; memory stays about
        one chunk. A record larger than ``max_bytes`` is still delivered (whole, or
        truncated to ``max_bytes + 1`` bytes) so it lands in quarantine, never dropped."""
        ...


@runtime_checkable
class ReadsColumns(Protocol):
    """A format that delivers clean stretches of a file as ``Columns`` (``csv``, ``jsonl``)."""

    def read_columns(
        self, file: BinaryIO, chunk_records: int, max_bytes: int
    ) -> Iterator[RecordChunk]: ...


def read_chunks(
    fmt: Format, file: BinaryIO, chunk_records: int, max_bytes: int
) -> Iterator[RecordChunk]:
    """The records of ``file``: as ``Columns`` where the format reads them so, else bytes."""
    if isinstance(fmt, ReadsColumns):
        return fmt.read_columns(file, chunk_records, max_bytes)
    return fmt.read(file, chunk_records, max_bytes)


def columns_span_streams(fmt: Format) -> bool:
    """Whether one batch may hold the ``Columns`` of several streams (``jsonl``: the
    records' bytes) or only of one (``csv``: columns named by that file's header)."""
    return bool(getattr(fmt, "columns_span_streams", False))


def joins(batch: RawBatch, stream: str, chunk: RecordChunk, span: bool) -> bool:
    """Whether ``chunk`` of ``stream`` may join ``batch``: records as bytes join bytes, and
    columns join columns — of the same stream unless the format's columns ``span``
    streams (``columns_span_streams``)."""
    if not len(batch):
        return True
    if (chunk.columns is not None) != (batch.records is not None):
        return False
    return chunk.columns is None or span or set(batch.streams.values()) == {stream}


def add_chunk(batch: RawBatch, stream: str, chunk: RecordChunk, timestamp_ms: int | None) -> None:
    """Append the records of ``chunk`` (of ``stream``, read at ``timestamp_ms``) to
    ``batch``: a run of columns (``RawBatch.add_records``) or bytes, with its context."""
    if chunk.columns is not None:
        c = chunk.columns
        batch.add_records(
            stream, chunk.first_seq, c.frame, c.payloads,
            timestamp_ms=timestamp_ms, records_format=c.format,
        )  # fmt: skip
    else:
        n = len(chunk)
        seqs = list(range(chunk.first_seq, chunk.first_seq + n))
        batch.extend(stream, seqs, chunk.payloads, timestamps_ms=[timestamp_ms] * n)
    if chunk.context is not None:  # a CSV file's header
        batch.context[stream] = chunk.context


@runtime_checkable
class DecodesColumns(Protocol):
    """A format that also decodes records a source split into its columns (``Columns``)."""

    def decode_columns(self, batch: RawBatch, contract: Contract) -> pl.DataFrame: ...


# Fields whose ``path`` names the record's coordinates instead of a payload value: a
# contract inferred for a file with no timestamp column uses the file's modified time as
# its event time. Every format's ``decode`` fills them (``with_record_fields``).
RECORD_PATHS = {
    "@row": "the record's seq in its stream (data row, line, Parquet row)",
    "@source_ts": "the source timestamp (a file's or object's modified time)",
}


def with_record_fields(frame: pl.DataFrame, batch: RawBatch, contract: Contract) -> pl.DataFrame:
    """``frame`` with the text of the contract's ``@row`` / ``@source_ts`` fields."""
    filled: list[pl.Series] = []
    for f in contract.fields:
        if f.path == "@row":
            filled.append(batch.seq_column().cast(pl.String).alias(f.name))
        elif f.path == "@source_ts":
            ts = batch.timestamp_column().alias(f.name)
            iso = ts.cast(pl.Datetime("ms", "UTC")).dt.to_string("%Y-%m-%dT%H:%M:%S%.3f+00:00")
            filled.append(iso)
    return frame.with_columns(filled) if filled else frame


_SUFFIX_FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


# gzip through ISA-L (python-isal): the standard library's API, 2.6x less CPU to inflate
# (a 2 MB Eventsim object: 5.2 -> 2.0 ms); its own error for a corrupt deflate stream.
# (isal's stubs type ``error`` as an instance, and leave ``igzip``'s functions untyped)
GZIP_ERRORS: tuple[type[Exception], ...] = (
    EOFError,
    zlib.error,
    gzip.BadGzipFile,
    cast("type[Exception]", isal_zlib.error),
)


def gunzip(data: bytes) -> bytes:
    """Every member of a gzip stream, inflated (``GZIP_ERRORS`` when it is damaged)."""
    return cast("bytes", igzip.decompress(data))  # type: ignore[no-untyped-call]


def gunzip_stream(fileobj: BinaryIO) -> BinaryIO:
    """A gzip stream, inflated as it is read (``GZIP_ERRORS`` at the read that meets
    damage)."""
    return cast("BinaryIO", igzip.GzipFile(fileobj=fileobj, mode="rb"))  # type: ignore[no-untyped-call]


def is_gzip(path: Path) -> bool:
    """``.gz`` files are read through streaming decompression (``open_input``)."""
    return path.suffix.lower() == ".gz"


class GzipInput(io.RawIOBase):
    """A gzip file, decompressed as it is read (memory: zlib's window and one read).
    A truncated or corrupt file raises ``InputError`` naming it, at the read that meets
    the damage; ``raw`` is the compressed file (its position is the progress)."""

    def __init__(self, raw: BinaryIO, name: str) -> None:
        self.raw = raw
        self.name = name
        self._gz = gunzip_stream(raw)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        try:
            return self._gz.read(size)
        except GZIP_ERRORS as exc:
            raise InputError(
                f"{self.name} is not a complete gzip file: {exc}",
                hint="the file is truncated or corrupt; compress it again (gzip -t checks it)",
            ) from exc

    def close(self) -> None:
        self._gz.close()
        self.raw.close()
        super().close()


def open_input(path: Path, handle: BinaryIO | None = None, encoding: str = "utf-8") -> BinaryIO:
    """``path`` opened for reading records: a ``.gz`` file decompressed as it is read, a
    text file in another ``encoding`` transcoded to UTF-8 (``formats.encoding``)."""
    from lakesmith.formats.encoding import transcoded

    raw = handle if handle is not None else path.open("rb")
    stream = cast("BinaryIO", GzipInput(raw, str(path))) if is_gzip(path) else raw
    return transcoded(stream, encoding)


def file_encoding(path: Path) -> str:
    """The encoding ``formats.encoding.detect_encoding`` finds at the head of ``path``."""
    from lakesmith.formats.encoding import HEAD_BYTES, detect_encoding

    with open_input(path) as handle:
        return detect_encoding(handle.read(HEAD_BYTES))


# Files people drop that no payload format reads: named in the error, with what to do,
# instead of a bare "cannot tell the format" (whose "pass --format csv" would read a
# workbook as text)
_SAVE_AS_CSV = "save each sheet as CSV (File > Save As > CSV) and ingest those"
_UNPACK = "unpack it and ingest the files (a folder or a glob works)"
_EXPORT = "export it as CSV, JSON lines or Parquet first"
_UNSUPPORTED = {
    ".xlsx": ("an Excel workbook", _SAVE_AS_CSV),
    ".xlsm": ("an Excel workbook", _SAVE_AS_CSV),
    ".xls": ("an Excel workbook", _SAVE_AS_CSV),
    ".ods": ("an OpenDocument spreadsheet", _SAVE_AS_CSV),
    ".zip": ("a zip archive", _UNPACK),
    ".tar": ("a tar archive", _UNPACK),
    ".7z": ("a 7-Zip archive", _UNPACK),
    ".avro": ("an Avro file", _EXPORT),
    ".orc": ("an ORC file", _EXPORT),
    ".xml": ("an XML file", _EXPORT),
}


def unknown_format_hint(path: Path, target: str | None = None) -> tuple[str, str]:
    """``(message, fix)`` for a file (of ``target``, as the user named it) whose format
    ``guess_format`` cannot tell."""
    name = target or str(path)
    known = _UNSUPPORTED.get(path.suffix.lower())
    if known is None:
        return f"cannot tell the format of {name} from its name", (
            "pass --format csv, jsonl or parquet"
        )
    what, fix = known
    return f"cannot read {name}: it is {what}, which lakesmith does not read", fix


def guess_format(path: Path) -> str | None:
    """The payload format a file's name (or, for ``.json``, its first byte) says; a
    ``.gz`` file's by the name inside (``orders.csv.gz`` → csv)."""
    suffix = (Path(path.stem) if is_gzip(path) else path).suffix.lower()
    if suffix == ".json":
        with open_input(path) as handle:
            head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
        return "json" if head.startswith(b"[") else "jsonl"
    return _SUFFIX_FORMATS.get(suffix)
