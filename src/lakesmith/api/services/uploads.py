"""File uploads into a dataset: the bytes are stored under the state dir with a name of
our own (never the client's), their type is read from their content (magic bytes, not
the client's content type or extension), then they take the ``lakesmith ingest`` path
(``pipeline.ingest``: the dataset's contract, the file source, the ordinary worker)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable
from pathlib import Path

from lakesmith.api.errors import (
    BadRequestError,
    ConflictError,
    InvalidError,
    TooLargeError,
    UnsupportedError,
)
from lakesmith.api.schemas import UploadResult
from lakesmith.api.services.datasets import known_contracts
from lakesmith.api.services.raw import request_id
from lakesmith.config import Settings
from lakesmith.core.errors import LakesmithError

EXTENSIONS = {"json": "json", "jsonl": "jsonl", "csv": "csv", "pdf": "pdf"}
_SNIFF = 64 * 1024
DATASET = re.compile(r"[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*")


def sniff(head: bytes) -> str:
    """``json``, ``jsonl``, ``csv`` or ``pdf`` from the first bytes; ``UnsupportedError`` else."""
    if head.startswith(b"%PDF-") or b"%PDF-" in head[:1024]:
        return "pdf"
    text = head.removeprefix(b"\xef\xbb\xbf")
    if b"\x00" in text:
        raise UnsupportedError("the file is binary, not JSON, CSV or PDF")
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(text) - 4:  # not just a character cut at the sniff boundary
            raise UnsupportedError("the file is not UTF-8 text, nor a PDF") from None
        decoded = text[: exc.start].decode("utf-8")
    stripped = decoded.lstrip()
    if not stripped:
        raise InvalidError("the file is empty")
    if stripped[0] == "[":
        return "json"
    if stripped[0] == "{":
        lines = [ln for ln in stripped.splitlines() if ln.strip()]
        if len(lines) > 1 and all(ln.lstrip().startswith("{") for ln in lines[:-1]):
            return "jsonl"
        return "json"
    first = stripped.splitlines()[0]
    if any(sep in first for sep in (",", ";", "\t", "|")):
        return "csv"
    raise UnsupportedError("the content is neither JSON, CSV nor PDF")


def _check_json(path: Path, fmt: str) -> None:
    """Reject malformed JSON up front (a 4xx naming the line), not record by record."""
    with path.open("rb") as fh:
        if fmt == "json":
            try:
                value = json.load(fh)
            except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # too deep too
                raise BadRequestError(f"malformed JSON: {exc}") from None
            if not isinstance(value, list | dict):
                raise BadRequestError("malformed JSON: expected an object or an array of objects")
            return
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    json.loads(line)
                except (ValueError, UnicodeDecodeError, RecursionError) as exc:
                    raise BadRequestError(f"malformed JSON Lines: line {n}: {exc}") from None


def _check_pdf(path: Path, settings: Settings) -> None:
    from lakesmith.formats.pdf import PdfLimits, PdfRejected, parse_pdf

    api = settings.api
    limits = PdfLimits(
        max_pages=api.pdf_max_pages,
        max_stream_bytes=api.pdf_max_stream_bytes,
        max_total_bytes=api.pdf_max_total_bytes,
    )
    try:
        parse_pdf(path.read_bytes(), limits)
    except PdfRejected as exc:
        raise InvalidError(f"the PDF is refused ({exc.rule}): {exc.message}") from None


class UploadService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = (settings.state_dir / "api" / "uploads").resolve()
        self._lock = threading.Lock()

    def store(self, dataset: str, chunks: Iterable[bytes]) -> tuple[Path, int]:
        """Write the upload to ``<state>/api/uploads/<dataset>/<request>.part``; 413 past
        the size limit (the partial file is removed)."""
        if not DATASET.fullmatch(dataset):
            raise InvalidError(
                f"dataset names look like domain.name (lower case): {dataset[:80]!r}"
            )
        folder = self.root / dataset
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{request_id()}.part"
        limit = self.settings.api.max_upload_bytes
        size = 0
        try:
            with path.open("xb") as fh:
                for chunk in chunks:
                    size += len(chunk)
                    if size > limit:
                        raise TooLargeError(f"the file is larger than the {limit:,}-byte limit")
                    fh.write(chunk)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        if size == 0:
            path.unlink(missing_ok=True)
            raise InvalidError("the file is empty")
        return path, size

    def ingest(self, dataset: str, part: Path, size: int) -> UploadResult:
        from lakesmith.contracts.loader import builtin_contracts
        from lakesmith.pipeline.ingest import ingest, prepare, save_contract

        try:
            with part.open("rb") as fh:
                fmt = sniff(fh.read(_SNIFF))
            contract = known_contracts(self.settings).get(dataset)
            if contract is not None and contract.payload.format != fmt:
                if {contract.payload.format, fmt} != {"json", "jsonl"}:
                    raise ConflictError(
                        f"{dataset} holds {contract.payload.format} records; this file is {fmt}"
                    )
                fmt = contract.payload.format
            if fmt in ("json", "jsonl"):
                _check_json(part, fmt)
            elif fmt == "pdf":
                _check_pdf(part, self.settings)
                if contract is None:
                    raise ConflictError(
                        f"no dataset {dataset!r} for PDFs: create it with a contract first"
                    )
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        final = part.with_suffix("." + EXTENSIONS[fmt])
        part.replace(final)
        with self._lock:  # one ingest at a time (each runs a worker)
            try:
                given = None
                if dataset in builtin_contracts():  # a domain's contract: ingest under it
                    given = final.parent / "contract.yaml"
                    save_contract(builtin_contracts()[dataset], given)
                job = prepare(self.settings, str(final), dataset, fmt=fmt, contract_path=given)
                result = ingest(self.settings, job)
            except LakesmithError as exc:
                raise InvalidError(f"the file could not be ingested: {exc.message}") from None
        by = result.stats.by_disposition
        return UploadResult(
            dataset=job.contract.name,
            stored_as=str(final.relative_to(self.settings.state_dir.resolve())),
            format=fmt,
            bytes=size,
            records=result.stats.records,
            valid=int(by.get("valid", 0)),
            quarantined=int(by.get("quarantined", 0)),
            duplicates=int(by.get("duplicate", 0)),
        )
