"""The ``file`` source kind: local files (one file, a folder, or a glob), read once.

``source: {kind: file, path: /data/drop/*.csv}``; ``payload.format`` says how the files
are split into records (``jsonl``, ``csv``, ``parquet``, ``json``). The files are found
when the source is built, sorted by path: a folder means its regular, non-hidden files
(not recursive); a glob may use ``**``. Files must be complete when they are found
(write, then rename into the folder).

Each file is a stream named after *this content* of the file,
``file://<absolute path>@<size>-<mtime_ns>``: the same unchanged file keeps its name
across restarts (so a restart resumes it), a rewritten file is a new stream, read from
its start. ``seq`` is the record index the format gives (line, data row, Parquet row);
record URIs are ``<stream>#row=<seq>``. Resuming, the records below a stream's position
are skipped by counting, never decoded (Parquet skips whole row groups unread). A format
that reads clean stretches of a file as columns (``csv``: ``formats.csv_blocks``;
``jsonl``: ``formats.jsonl_columns``) hands them over as such; a batch then holds runs of
columns (``RawBatch.add_records``) of one file (of several when the format's columns span
streams), never mixed with records as bytes.
Memory stays about one chunk (``chunk_records`` records) of one file, plus the chunks
read ahead in a thread while a batch is processed (``READ_AHEAD``). ``bytes_read`` of
``total_bytes`` is the progress (``lakesmith ingest`` shows it). A ``.gz`` file is
decompressed as it is read (``formats.base.open_input``): its stream is named after the
compressed file, its seqs count the decompressed records, progress is compressed bytes;
resuming decompresses and counts the records before the position (not Parquet: refused).
"""

from __future__ import annotations

import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal, Protocol, runtime_checkable

from pydantic import Field

from lakesmith.contracts.model import SourceSpec
from lakesmith.core.errors import ContractError, InputError
from lakesmith.core.logging import get_logger
from lakesmith.core.positions import Position, Positions
from lakesmith.core.records import RawBatch
from lakesmith.formats import RecordChunk, get_format
from lakesmith.formats.base import (
    add_chunk,
    columns_span_streams,
    is_gzip,
    joins,
    open_input,
    read_chunks,
)
from lakesmith.sources.base import SourceContext
from lakesmith.sources.read_ahead import ReadAhead

log = get_logger(__name__)

_GLOB_CHARS = frozenset("*?[")
READ_AHEAD = 1  # chunks read ahead of the batch being filled (``sources.read_ahead``)


class FileSourceSpec(SourceSpec):
    """``source: {kind: file, path: …}``"""

    kind: Literal["file"] = "file"
    path: str = Field(description="a file, a folder (its files), or a glob like /drop/*.csv")
    chunk_records: int = Field(50_000, ge=1, description="records read from a file at a time")

    @property
    def uri(self) -> str:
        return f"file://{self.path}"

    @property
    def uri_sep(self) -> str:
        return "#row="


@runtime_checkable
class _ReadsFrom(Protocol):
    """A format that can start reading at a record without reading those before it."""

    def read_from(
        self, file: BinaryIO, chunk_records: int, max_bytes: int, start: int
    ) -> Iterator[RecordChunk]: ...


@dataclass(frozen=True)
class InputFile:
    path: Path  # absolute
    size: int
    mtime_ns: int

    @property
    def stream(self) -> str:
        return f"file://{self.path}@{self.size}-{self.mtime_ns}"

    @property
    def mtime_ms(self) -> int:
        return self.mtime_ns // 1_000_000


def _stat(path: Path) -> InputFile | None:
    """The file's identity, or None when it is not a regular file."""
    try:
        st = path.stat()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(st.st_mode):
        return None
    return InputFile(path, st.st_size, st.st_mtime_ns)


def discover(pattern: str) -> list[InputFile]:
    """The files ``pattern`` names (a file, a folder or a glob), sorted by path."""
    path = Path(pattern).expanduser()
    parts = path.parts
    magic = next((i for i, p in enumerate(parts) if _GLOB_CHARS & set(p)), None)
    if magic is not None:
        base = Path(*parts[:magic]) if magic else Path()
        candidates = list(base.glob(str(Path(*parts[magic:]))))
    elif path.is_dir():
        candidates = [p for p in path.iterdir() if not p.name.startswith(".")]
    elif path.exists():
        candidates = [path]
    else:
        raise InputError(
            f"cannot read {pattern}: no such file or folder",
            hint="check source.path in the contract (a file, a folder, or a glob)",
        )
    if magic is not None:
        candidates = [p for p in candidates if not p.name.startswith(".")]
    found = [_stat(p.absolute()) for p in candidates]
    return sorted((f for f in found if f is not None), key=lambda f: str(f.path))


class FileSource:
    """Read the files of a ``file`` source in order, one chunk of one file at a time."""

    def __init__(self, context: SourceContext) -> None:
        spec = context.contract.source
        if not isinstance(spec, FileSourceSpec):
            raise ContractError(f"this needs a file source; the contract's source is {spec.kind!r}")
        self.spec = spec
        self.uri = spec.uri
        self._resume = context.resume
        self._format = get_format(context.contract.payload.format)
        self._max_bytes = context.contract.payload.max_bytes
        self._encoding = context.contract.payload.text_encoding
        self.files = discover(spec.path)
        self._starts: Positions = dict(context.resume([f.stream for f in self.files]))
        self._index = 0  # the file being read
        self._current: InputFile | None = None
        self._handle: BinaryIO | None = None
        self._chunks: Iterator[RecordChunk] | None = None
        self._pending: RecordChunk | None = None  # the undelivered rest of a chunk
        self._failed: InputError | None = None  # a file could not be read: stop there
        self._told_done = False  # "every file read" logged
        self.busy_s = 0.0
        self.total_bytes = sum(f.size for f in self.files)
        self.bytes_read = 0  # whole files before the current one + its read position
        log.info("file_source_opened", path=spec.path, files=len(self.files))

    # -- reading -------------------------------------------------------------------------

    def _open(self, f: InputFile) -> Iterator[RecordChunk]:
        try:
            handle: BinaryIO = f.path.open("rb")
        except OSError as exc:
            raise InputError(f"cannot read {f.path}: {exc.strerror or exc}") from exc
        self._handle = handle
        now = _stat(f.path)
        if now is not None and now != f:  # changed since it was found: a new stream
            log.warning("file_changed", path=str(f.path), stream=now.stream)
            self._starts.update(self._resume([now.stream]))
            f = now
        self._current = f
        start = self._starts.get(f.stream, Position(0)).next
        if is_gzip(f.path) or self._encoding != "utf-8":
            if self._format.name == "parquet":
                raise InputError(
                    f"cannot read {f.path}: a gzip-compressed Parquet file",
                    hint="decompress it (Parquet compresses its own pages)",
                )
            # records counted in the decompressed / transcoded text
            return self._read(open_input(f.path, handle, self._encoding))
        if start and isinstance(self._format, _ReadsFrom):
            return self._format.read_from(handle, self.spec.chunk_records, self._max_bytes, start)
        return self._read(handle)

    def _read(self, file: BinaryIO) -> Iterator[RecordChunk]:
        return read_chunks(self._format, file, self.spec.chunk_records, self._max_bytes)

    def _close_file(self) -> None:
        if self._chunks is not None and hasattr(self._chunks, "close"):
            self._chunks.close()
        if self._handle is not None:
            self._handle.close()
        self._chunks = self._handle = self._current = None

    def _next_chunk(self) -> RecordChunk | None:
        """The next chunk of records still to deliver (resume position applied), or None
        when every file is read."""
        while self._index < len(self.files):
            if self._chunks is None:
                try:  # the format reads the file's next blocks while a batch is processed
                    self._chunks = ReadAhead(self._open(self.files[self._index]), READ_AHEAD)
                except InputError as exc:
                    self._failed = exc
                    raise
            f = self._current
            assert f is not None
            try:
                chunk = next(self._chunks, None)
            except InputError as exc:
                self._failed = InputError(f"cannot read {f.path}: {exc.message}", hint=exc.hint)
                raise self._failed from exc
            except OSError as exc:
                self._failed = InputError(f"cannot read {f.path}: {exc.strerror or exc}")
                raise self._failed from exc
            if chunk is None:
                self._close_file()
                self._index += 1
                continue
            skip = self._starts.get(f.stream, Position(0)).next - chunk.first_seq
            if skip >= len(chunk):
                continue
            if skip > 0:
                chunk = chunk.split(skip)[1]
            return chunk
        return None

    def poll(self, max_records: int, max_wait_s: float) -> RawBatch:
        """Up to ``max_records`` records. Chunks of records as bytes fill one batch across
        files; chunks of ``Columns`` (a format's clean blocks) fill a batch of their own
        (``RawBatch.add_records``), of one file unless the format's columns span streams."""
        if self._failed is not None:
            raise self._failed
        batch = RawBatch(source=self.uri, uri_sep=self.spec.uri_sep)
        span = columns_span_streams(self._format)
        taken = 0
        t0 = time.monotonic()
        while taken < max_records:
            chunk = self._pending if self._pending is not None else self._next_chunk()
            self._pending = None
            if chunk is None:
                if not self._told_done:
                    self._told_done = True
                    log.info(
                        "file_source_read", path=self.spec.path, files=len(self.files),
                        hint="the files found when the source opened are read; files added "
                        "since are read by the next run (`lakesmith watch DIR` ingests files "
                        "as they land)",
                    )  # fmt: skip
                break
            f = self._current
            assert f is not None
            if not joins(batch, f.stream, chunk, span):
                self._pending = chunk  # another kind of chunk, or another file: next batch
                break
            if len(chunk) > max_records - taken:
                chunk, self._pending = chunk.split(max_records - taken)
            taken += len(chunk)
            add_chunk(batch, f.stream, chunk, f.mtime_ms)
            self._count_bytes()
            if time.monotonic() - t0 > max_wait_s:
                break
        self.busy_s = time.monotonic() - t0
        return batch

    def _count_bytes(self) -> None:
        done = sum(f.size for f in self.files[: self._index])
        try:
            here = self._handle.tell() if self._handle is not None else 0
        except (OSError, ValueError):
            here = 0
        self.bytes_read = min(done + here, self.total_bytes)

    # -- the rest of the Source interface -------------------------------------------------

    def committed(self, positions: Positions) -> None:
        """Nothing to do: positions live in the sinks."""

    def drained(self) -> bool:
        if self._failed is not None:
            return False
        if self._pending is None:
            self._pending = self._next_chunk()  # look ahead: is anything left?
        if self._pending is None:
            self.bytes_read = self.total_bytes
        return self._pending is None

    def lag(self) -> dict[str, int]:
        return {}  # records per file are unknown until read

    def close(self) -> None:
        self._close_file()
        self._pending = None


SPEC = FileSourceSpec
SOURCE = FileSource
