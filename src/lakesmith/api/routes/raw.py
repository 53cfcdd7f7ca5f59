"""``/v1/raw/{dataset}``: bronze records, single and batch, and file uploads."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Query, Request, UploadFile, status

from lakesmith.api.deps import Raw, Reader, Uploads, Writer
from lakesmith.api.schemas import (
    IdsIn,
    PatchIn,
    RawPage,
    RawRecord,
    RecordIn,
    UploadResult,
    WriteResult,
)

router = APIRouter(prefix="/raw", tags=["raw"])
HISTORY = Query(False, description="every version (tombstones included), oldest first")
CHUNK = 1024 * 1024


@router.get("/{dataset}", response_model=RawPage)
def list_records(
    dataset: str,
    request: Request,
    _: Reader,
    raw: Raw,
    limit: int = Query(100, ge=1),
    cursor: str | None = None,
    history: bool = HISTORY,
) -> RawPage:
    """Current records (``?field=value`` filters on contract fields), or every version."""
    params = list(request.query_params.multi_items())
    return raw.list_records(dataset, params, limit, cursor, history)


@router.get("/{dataset}/{record_id}", response_model=list[RawRecord])
def get_record(
    dataset: str, record_id: str, _: Reader, raw: Raw, history: bool = HISTORY
) -> list[RawRecord]:
    """The current version of a record (a list of one), or all its versions."""
    return raw.get(dataset, record_id, history)


@router.post("/{dataset}", response_model=WriteResult, status_code=status.HTTP_201_CREATED)
def create_record(dataset: str, body: RecordIn, _: Writer, raw: Raw) -> WriteResult:
    """Create one record."""
    return raw.create(dataset, [body])


@router.post("/{dataset}/batch", response_model=WriteResult, status_code=status.HTTP_201_CREATED)
def create_records(dataset: str, body: list[RecordIn], _: Writer, raw: Raw) -> WriteResult:
    """Create many records at once (one bronze stream, one pipeline batch)."""
    if not body or len(body) > 1000:
        from lakesmith.api.errors import InvalidError

        raise InvalidError("send 1 to 1000 records")
    return raw.create(dataset, body)


@router.put("/{dataset}/{record_id}", response_model=WriteResult)
def replace_record(
    dataset: str, record_id: str, body: dict[str, Any], _: Writer, raw: Raw
) -> WriteResult:
    """Replace a record's payload (a new version)."""
    return raw.replace(dataset, record_id, body)


@router.patch("/{dataset}/{record_id}", response_model=WriteResult)
def patch_record(
    dataset: str, record_id: str, body: dict[str, Any], _: Writer, raw: Raw
) -> WriteResult:
    """Merge-patch a record (RFC 7386: null removes a field); a new version."""
    return raw.update(dataset, [PatchIn(id=record_id, data=body)], merge=True)


@router.patch("/{dataset}", response_model=WriteResult)
def patch_records(dataset: str, body: list[PatchIn], _: Writer, raw: Raw) -> WriteResult:
    """Merge-patch many records at once."""
    if not body or len(body) > 1000:
        from lakesmith.api.errors import InvalidError

        raise InvalidError("send 1 to 1000 changes")
    return raw.update(dataset, body, merge=True)


@router.delete("/{dataset}/{record_id}", response_model=WriteResult)
def delete_record(dataset: str, record_id: str, _: Writer, raw: Raw) -> WriteResult:
    """Delete a record (a tombstone: its versions stay in bronze)."""
    return raw.delete(dataset, [record_id])


@router.post("/{dataset}/delete", response_model=WriteResult)
def delete_records(dataset: str, body: IdsIn, _: Writer, raw: Raw) -> WriteResult:
    """Delete many records at once."""
    return raw.delete(dataset, body.ids)


@router.post("/{dataset}/files", response_model=UploadResult, status_code=status.HTTP_201_CREATED)
def upload(dataset: str, file: UploadFile, _: Writer, uploads: Uploads) -> UploadResult:
    """Upload a JSON, JSON Lines, CSV or PDF file into the dataset (its type is read from
    its content; the stored name is the server's own)."""

    def chunks() -> Iterator[bytes]:
        while block := file.file.read(CHUNK):
            yield block

    part, size = uploads.store(dataset, chunks())
    return uploads.ingest(dataset, part, size)
