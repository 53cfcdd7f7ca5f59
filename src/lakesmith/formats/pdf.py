"""The ``pdf`` format: one record per PDF document, decoded with pypdf under hard limits.

**One record per document, not per page.** Bronze keeps each document's bytes exactly
once (``_payload``; its SHA-256 is the ``sha256`` field), so a reprocess from bronze
re-extracts everything; the document's identity (hash, metadata, file name, type) is one
row of silver. The fields this decoder fills can also sit in bronze beside the bytes
(``payload.bronze_fields``, ``bronze/decoded.py``: entities.documents keeps ``sha256``,
``pages`` and ``text`` there). The extracted text keeps the pages apart: ``text`` is the page texts
joined by a form feed (``\\f``, as ``pdftotext`` does), and ``split_pages`` / ``page_rows``
give one row per page for search, which indexes page chunks.

``read`` reads a whole file as one record (at most ``max_bytes + 1`` bytes: a larger file
is cut and quarantined as ``payload_too_large``, never held whole). ``decode`` fills one
text column per contract field from the field's ``path``:

``sha256`` ``bytes`` ``pages`` ``text`` the document (hash of the raw bytes, size, page count,
page texts joined by ``\\f``); ``title`` ``author`` ``subject`` ``keywords`` ``creator``
``producer`` the info dictionary; ``created`` ``modified`` its dates as ISO 8601 with zone;
``keywords.<name>`` the value of ``name=value`` in the keywords (pairs separated by ``;``);
``@file`` the file's name (from the record's stream); ``@row`` and ``@source_ts`` as for
every format.

Hostile input never crashes the batch and never takes unbounded memory: each document is
parsed alone with pypdf's ``Configuration`` limits (decompressed bytes per stream, array
and dictionary sizes, page-tree size), the decompressed content of all its pages is
counted against ``max_total_bytes``, and the page count against ``max_pages``. What fails
is quarantined with a reason: ``not_a_pdf``, ``pdf_encrypted``, ``pdf_unreadable``
(truncated or corrupt), ``pdf_decompression_limit``, ``pdf_too_many_pages``,
``pdf_text_too_long``, ``payload_too_large``. The limits (``PdfLimits``) default to
``DEFAULT_LIMITS``; ``LAKESMITH_PDF_MAX_PAGES`` / ``LAKESMITH_PDF_MAX_STREAM_BYTES`` /
``LAKESMITH_PDF_MAX_TOTAL_BYTES`` override them for a process (the API's upload path
passes its own to ``parse_pdf``).

Decoding is one pypdf parse per *document* (pure Python, ~13 ms a page): a batch of at
least ``PARALLEL_MIN`` documents is parsed in a pool of spawned worker processes
when ``LAKESMITH_PDF_WORKERS`` is above 1 (default 1: parse in the calling process; each
worker process costs ~130 MiB, which the ingest's memory sizing does not count). A
worker also keeps a hostile document's memory out of the pipeline's process.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import polars as pl

from lakesmith.contracts.model import Contract
from lakesmith.core.records import RawBatch
from lakesmith.formats.base import PARSE_DETAIL, PARSE_ERROR, RecordChunk, with_record_fields

PAGE_BREAK = "\f"
MAGIC = b"%PDF-"
_HEAD = 1024  # a PDF header may follow some junk, within the first KiB (as readers accept)
_STREAM_NAME = re.compile(r"^(?:[a-z0-9]+://)?(?P<path>.*?)(?:@\d+-\d+)?$")
_DATE = re.compile(
    r"^D:(?P<y>\d{4})(?P<m>\d{2})?(?P<d>\d{2})?(?P<H>\d{2})?(?P<M>\d{2})?(?P<S>\d{2})?"
    r"(?P<z>[Zz]|[+-]\d{2}'?\d{2}'?)?"
)
INFO_FIELDS = ("title", "author", "subject", "keywords", "creator", "producer")
DOCUMENT_FIELDS = ("sha256", "bytes", "pages", "text", *INFO_FIELDS, "created", "modified")


@dataclass(frozen=True)
class PdfLimits:
    """What one document may cost. Streams are decompressed at most ``max_stream_bytes``
    each (pypdf stops there); the decompressed page contents together at most
    ``max_total_bytes``; a document has at most ``max_pages`` pages and its text at most
    ``max_text_chars`` characters."""

    max_pages: int = 2_000
    max_stream_bytes: int = 32 * 1024 * 1024
    max_total_bytes: int = 256 * 1024 * 1024
    max_text_chars: int = 20_000_000
    max_array_elements: int = 100_000

    def pypdf_overrides(self) -> dict[str, int]:
        per_stream = self.max_stream_bytes
        return {
            "zlib_maximum_output_length": per_stream,
            "lzw_maximum_output_length": per_stream,
            "run_length_maximum_output_length": per_stream,
            "brotli_maximum_output_length": per_stream,
            "jbig2_maximum_output_length": per_stream,
            "array_based_stream_maximum_output_length": per_stream,
            "maximum_declared_stream_length": per_stream,
            "image_maximum_buffer_size": per_stream,
            "stream_decoding_work_maximum_length": 4 * per_stream,
            "array_maximum_element_count": self.max_array_elements,
            "dictionary_maximum_element_count": self.max_array_elements,
            "page_tree_maximum_entries": max(self.max_pages * 4, 1_000),
        }


def _env_limits() -> PdfLimits:
    def get(name: str, default: int) -> int:
        text = os.environ.get(f"LAKESMITH_PDF_{name}")
        return int(text) if text and text.strip().isdigit() else default

    d = PdfLimits()
    return PdfLimits(
        max_pages=get("MAX_PAGES", d.max_pages),
        max_stream_bytes=get("MAX_STREAM_BYTES", d.max_stream_bytes),
        max_total_bytes=get("MAX_TOTAL_BYTES", d.max_total_bytes),
        max_text_chars=get("MAX_TEXT_CHARS", d.max_text_chars),
    )


DEFAULT_LIMITS = _env_limits()


class PdfRejected(Exception):  # noqa: N818 - a verdict, not a bug
    """A document that cannot be accepted: ``rule`` (quarantine rule id) and ``message``."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule
        self.message = message


@dataclass(frozen=True)
class PdfDocument:
    """What ``parse_pdf`` extracts from one document."""

    sha256: str
    size: int
    page_texts: list[str]
    info: dict[str, str] = field(default_factory=dict)  # title, author, …, created, modified

    @property
    def pages(self) -> int:
        return len(self.page_texts)

    @property
    def text(self) -> str:
        return PAGE_BREAK.join(self.page_texts)

    @property
    def keywords(self) -> dict[str, str]:
        return parse_keywords(self.info.get("keywords"))

    def value(self, path: str) -> str | None:
        """The text of contract path ``path`` (see the module doc)."""
        if path == "sha256":
            return self.sha256
        if path == "bytes":
            return str(self.size)
        if path == "pages":
            return str(self.pages)
        if path == "text":
            return self.text
        if path.startswith("keywords."):
            return self.keywords.get(path.removeprefix("keywords."))
        return self.info.get(path)


def parse_keywords(text: str | None) -> dict[str, str]:
    """``"doc_type=datasheet; model=TH-200"`` → ``{"doc_type": "datasheet", …}``."""
    out: dict[str, str] = {}
    for part in (text or "").split(";"):
        name, sep, value = part.partition("=")
        if sep and name.strip():
            out[name.strip()] = value.strip()
    return out


def pdf_date(text: object) -> str | None:
    """A PDF date (``D:20240131093000+01'00'``) as ISO 8601 with zone; None if unreadable."""
    if not isinstance(text, str):
        return None
    m = _DATE.match(text.strip())
    if not m:
        return None
    g = m.groupdict()
    try:
        y, mo, d = int(g["y"]), int(g["m"] or 1), int(g["d"] or 1)
        hh, mm, ss = int(g["H"] or 0), int(g["M"] or 0), int(g["S"] or 0)
        if not (1 <= mo <= 12 and 1 <= d <= 31 and hh < 24 and mm < 60 and ss < 61):
            return None
    except ValueError:
        return None
    z = (g["z"] or "Z").replace("'", "")
    zone = "+00:00" if z in ("Z", "z") else f"{z[:3]}:{z[3:5]}"
    return f"{y:04d}-{mo:02d}-{d:02d}T{hh:02d}:{mm:02d}:{min(ss, 59):02d}{zone}"


def _clean(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).replace("\x00", "").strip()
    return text or None


def _content_bytes(page: Any) -> int:
    """Decompressed size of a page's content streams (decoded once; pypdf caches it)."""
    contents = page.get("/Contents")
    if contents is None:
        return 0
    contents = contents.get_object()
    streams = contents if isinstance(contents, list) else [contents]
    total = 0
    for s in streams:
        obj = s.get_object()
        get_data = getattr(obj, "get_data", None)
        if get_data is not None:
            total += len(get_data())
    return total


def parse_pdf(data: bytes, limits: PdfLimits = DEFAULT_LIMITS) -> PdfDocument:
    """Extract ``data``'s page texts and metadata, or raise ``PdfRejected`` (never another
    exception for bad input; memory stays about the limits)."""
    from pypdf import PdfReader
    from pypdf._configuration import apply_configuration
    from pypdf.errors import FileNotDecryptedError, LimitReachedError, PyPdfError

    if not data:
        raise PdfRejected("not_a_pdf", "empty file")
    if MAGIC not in data[:_HEAD]:
        raise PdfRejected("not_a_pdf", "no %PDF- header: this is not a PDF document")
    if b"%%EOF" not in data[-2048:] and b"startxref" not in data[-4096:]:
        raise PdfRejected("pdf_unreadable", "no end-of-file marker: the PDF is truncated")
    digest = hashlib.sha256(data).hexdigest()
    pdf_logger = logging.getLogger("pypdf")
    level = pdf_logger.level
    pdf_logger.setLevel(logging.ERROR)  # pypdf logs every recoverable oddity as a warning
    try:
        with apply_configuration(None, **limits.pypdf_overrides()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import io

            reader = PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted:
                try:
                    reader.decrypt("")  # an empty user password only restricts permissions
                except (PyPdfError, NotImplementedError, ValueError) as exc:
                    raise PdfRejected("pdf_encrypted", f"the PDF is encrypted: {exc}") from None
                if not reader.pages:  # pragma: no cover - decrypt("") failed silently
                    raise PdfRejected("pdf_encrypted", "the PDF is encrypted with a password")
            n = len(reader.pages)
            if n > limits.max_pages:
                raise PdfRejected(
                    "pdf_too_many_pages",
                    f"the PDF has {n:,} pages; the limit is {limits.max_pages:,}",
                )
            texts: list[str] = []
            total = chars = 0
            for i, page in enumerate(reader.pages):
                total += _content_bytes(page)
                if total > limits.max_total_bytes:
                    raise PdfRejected(
                        "pdf_decompression_limit",
                        f"page {i + 1}: decompressed content exceeds {limits.max_total_bytes:,} bytes",
                    )
                text = (page.extract_text() or "").replace(PAGE_BREAK, "\n").replace("\x00", "")
                chars += len(text)
                if chars > limits.max_text_chars:
                    raise PdfRejected(
                        "pdf_text_too_long",
                        f"the text exceeds {limits.max_text_chars:,} characters at page {i + 1}",
                    )
                texts.append(text)
            meta: Any = reader.metadata or {}
            info = {k: v for k in INFO_FIELDS if (v := _clean(meta.get(f"/{k.title()}")))}
            for k, key in (("created", "/CreationDate"), ("modified", "/ModDate")):
                if (d := pdf_date(meta.get(key))) is not None:
                    info[k] = d
    except PdfRejected:
        raise
    except FileNotDecryptedError as exc:
        raise PdfRejected("pdf_encrypted", f"the PDF is encrypted: {exc}") from None
    except LimitReachedError as exc:
        raise PdfRejected(
            "pdf_decompression_limit", f"a stream exceeds the limits: {exc}"
        ) from None
    except MemoryError:
        raise PdfRejected("pdf_decompression_limit", "the PDF does not fit in memory") from None
    except RecursionError:
        raise PdfRejected("pdf_unreadable", "the PDF's object structure nests too deeply") from None
    except Exception as exc:  # pypdf raises many types on corrupt input
        raise PdfRejected(
            "pdf_unreadable", f"cannot read the PDF ({type(exc).__name__}: {exc})"[:500]
        ) from None
    finally:
        pdf_logger.setLevel(level)
    return PdfDocument(digest, len(data), texts, info)


def file_name(stream: str) -> str:
    """The file name of a record's stream (``file:///in/a.pdf@123-456`` → ``a.pdf``)."""
    m = _STREAM_NAME.match(stream)
    path = m.group("path") if m else stream
    return path.rstrip("/").rsplit("/", 1)[-1]


def split_pages(text: str | None) -> list[str]:
    """The page texts of a document's ``text`` (page 1 first)."""
    return [] if text is None else text.split(PAGE_BREAK)


def page_rows(frame: pl.DataFrame, text: str = "text", page: str = "page") -> pl.DataFrame:
    """One row per page of each document of ``frame``: its columns, ``page`` (1-based) and
    ``text`` holding that page's text only (for search chunks)."""
    exploded = frame.with_columns(pl.col(text).str.split(PAGE_BREAK)).with_columns(
        pl.int_ranges(1, pl.col(text).list.len() + 1).alias(page)
    )
    return exploded.explode([text, page])


Parsed = PdfDocument | tuple[str, str]  # the document, or (rule id, message)
PARALLEL_MIN = 8  # documents in a batch before they are parsed in worker processes
_POOL: list[Any] = []  # the shared process pool, created on first use


def _workers_default() -> int:
    text = os.environ.get("LAKESMITH_PDF_WORKERS", "")
    return int(text) if text.strip().isdigit() else 1


def parse_one(payload: bytes | None, max_bytes: int, limits: PdfLimits) -> Parsed:
    """``parse_pdf`` of one record, its rejection as ``(rule, message)``."""
    if not payload:
        return ("not_a_pdf", "empty file")
    if len(payload) > max_bytes:
        return ("payload_too_large", f"the file is over {max_bytes:,} bytes (the limit)")
    try:
        return parse_pdf(payload, limits)
    except PdfRejected as exc:
        return (exc.rule, exc.message)


def _parse_star(args: tuple[bytes | None, int, PdfLimits]) -> Parsed:
    return parse_one(*args)


def _pool(workers: int) -> Any:
    """A process pool (spawned: forking a process running Polars threads can deadlock)."""
    if not _POOL:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        atexit.register(pool.shutdown, wait=True, cancel_futures=True)  # before teardown
        _POOL.append(pool)
    return _POOL[0]


def parse_many(
    payloads: list[bytes | None], max_bytes: int, limits: PdfLimits, workers: int = 1
) -> list[Parsed]:
    """``parse_one`` of every payload, in order; in ``workers`` processes when the batch
    is large enough (pypdf is pure Python: threads would not help). A broken pool (a
    worker killed by the OS) falls back to parsing here."""
    if workers <= 1 or len(payloads) < PARALLEL_MIN:
        return [parse_one(p, max_bytes, limits) for p in payloads]
    from concurrent.futures.process import BrokenProcessPool

    try:
        jobs = ((p, max_bytes, limits) for p in payloads)
        return list(_pool(workers).map(_parse_star, jobs, chunksize=4))
    except BrokenProcessPool:
        _POOL.clear()
        return [parse_one(p, max_bytes, limits) for p in payloads]


class PdfFormat:
    """A PDF file is one record; see the module doc for the fields it can fill.
    ``workers`` processes parse large batches (default ``LAKESMITH_PDF_WORKERS``, else 1)."""

    name = "pdf"

    def __init__(self, limits: PdfLimits | None = None, workers: int | None = None) -> None:
        self.limits = limits
        self.workers = workers

    def decode(self, batch: RawBatch, contract: Contract) -> pl.DataFrame:
        limits = self.limits or DEFAULT_LIMITS
        workers = self.workers if self.workers is not None else _workers_default()
        paths = {f.name: f.path or f.name for f in contract.fields}
        wanted = {n: p for n, p in paths.items() if not p.startswith("@") or p == "@file"}
        columns: dict[str, list[str | None]] = {n: [] for n in wanted}
        errors: list[str | None] = []
        details: list[str | None] = []
        names = {sid: file_name(s) for sid, s in batch.streams.items()}
        parsed = parse_many(batch.payloads, contract.payload.max_bytes, limits, workers)
        for result, sid in zip(parsed, batch.stream_ids, strict=True):
            doc = result if isinstance(result, PdfDocument) else None
            err = None if isinstance(result, PdfDocument) else result
            errors.append(err[0] if err else None)
            details.append(err[1] if err else None)
            for n, p in wanted.items():
                if p == "@file":
                    columns[n].append(names.get(sid))
                else:
                    columns[n].append(doc.value(p) if doc is not None else None)
        frame = pl.DataFrame(
            {
                **{n: pl.Series(n, v, dtype=pl.String) for n, v in columns.items()},
                PARSE_ERROR: pl.Series(PARSE_ERROR, errors, dtype=pl.String),
                PARSE_DETAIL: pl.Series(PARSE_DETAIL, details, dtype=pl.String),
            }
        )
        frame = with_record_fields(frame, batch, contract)
        order = [f.name for f in contract.fields if f.name in frame.columns]
        return frame.select([*order, PARSE_ERROR, PARSE_DETAIL])

    def read(self, file: BinaryIO, chunk_records: int, max_bytes: int) -> Iterator[RecordChunk]:
        data = file.read(max_bytes + 1)  # a larger file is cut: quarantined, never held whole
        yield RecordChunk(0, [data])


FORMAT = PdfFormat()
