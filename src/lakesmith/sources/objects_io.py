"""Listing and reading the objects of the ``s3`` source: object versions under a prefix,
one object's body as a raw stream, gunzipped when it starts with gzip's magic bytes, and a
guard that ends a damaged gzip stream early (``error`` says why) instead of losing the
lines before the damage."""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from lakesmith.core.errors import SourceError
from lakesmith.formats.base import GZIP_ERRORS, gunzip
from lakesmith.sources.objects_spec import ObjectSourceSpec, stream_name

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True, order=True)
class ObjectVersion:
    key: str
    etag: str
    size: int
    modified_ms: int
    bucket: str

    @property
    def stream(self) -> str:
        return stream_name(self.bucket, self.key, self.etag)


class _Raw(io.RawIOBase):
    """A botocore streaming body as a raw stream (for ``io.BufferedReader``)."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self._body.read(len(b))
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._body.close()
        super().close()


class Guarded(io.RawIOBase):
    """The decompressed object; a damaged gzip stream ends it early (``error`` says why)
    instead of raising, so the lines before the damage are kept."""

    def __init__(self, inner: BinaryIO, *under: io.IOBase) -> None:
        self._inner = inner
        self._under = under  # closed with it (GzipFile leaves its file open)
        self.error: str | None = None

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (all with -1), gathered with ``read1`` so the bytes
        decompressed before damage are returned, not lost with the exception."""
        if self.error is not None:
            return b""
        parts: list[bytes] = []
        got = 0
        read1 = getattr(self._inner, "read1", self._inner.read)
        while size < 0 or got < size:
            try:
                data = read1(size - got if size >= 0 else 1 << 20)
            except GZIP_ERRORS as exc:
                self.error = f"{type(exc).__name__}: {exc}"
                break
            if not data:
                break
            parts.append(data)
            got += len(data)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._inner.close()
        for f in self._under:
            f.close()
        super().close()


def open_object(body: Any) -> tuple[Guarded, bool]:
    """An object's bytes as a guarded stream, gunzipped when it starts with gzip's magic
    bytes; and whether it was gzip."""
    buffered = io.BufferedReader(_Raw(body), 1 << 20)
    is_gzip = buffered.peek(2)[:2] == _GZIP_MAGIC
    if is_gzip:
        # the standard library's reader, not ISA-L's: on a damaged stream it still
        # hands out the bytes before the damage (ISA-L's fails the read that holds them)
        return Guarded(cast("BinaryIO", gzip.GzipFile(fileobj=buffered)), buffered), True
    return Guarded(cast("BinaryIO", buffered)), False


def gunzip_whole(data: bytes) -> tuple[bytes, bool]:
    """``data`` gunzipped when it is a sound gzip stream (then True); else as it is (a
    damaged stream is left to ``open_object``, which keeps the lines before the damage)."""
    if data[:2] != _GZIP_MAGIC:
        return data, False
    try:
        return gunzip(data), True
    except GZIP_ERRORS:
        return data, False


def open_fetched(data: bytes, gunzipped: bool) -> tuple[Guarded, bool]:
    """A fetched object as ``open_object`` gives it (already gunzipped or not)."""
    if gunzipped:
        return Guarded(cast("BinaryIO", io.BytesIO(data))), True
    return open_object(io.BytesIO(data))


def list_versions(
    client: S3Client, spec: ObjectSourceSpec, start_after: str
) -> Iterator[ObjectVersion]:
    """The object versions under ``spec.prefix`` after ``start_after`` (all when empty), in
    key order; folder markers and keys without one of ``spec.suffixes`` left out."""
    args: dict[str, Any] = {"Bucket": spec.bucket, "Prefix": spec.prefix}
    if start_after:
        args["StartAfter"] = start_after
    try:
        for page in client.get_paginator("list_objects_v2").paginate(**args):
            for o in page.get("Contents", []):
                key = o["Key"]
                if key.endswith("/") or (spec.suffixes and not key.endswith(tuple(spec.suffixes))):
                    continue
                yield ObjectVersion(
                    key,
                    o["ETag"].strip('"'),
                    o["Size"],
                    int(o["LastModified"].timestamp() * 1000),
                    spec.bucket,
                )
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        if code in ("NoSuchBucket", "AccessDenied", "InvalidAccessKeyId"):
            raise SourceError(
                f"cannot list s3://{spec.bucket}/{spec.prefix}: {code}",
                hint="check source.bucket in the contract and the [s3] settings",
            ) from exc
        raise


def gone_message(v: ObjectVersion, start: int) -> str:
    where = f"from line {start}" if start else "at all"
    return (
        f"object {v.key!r} version {v.etag} was deleted or overwritten before it could be "
        f"read {where}"
    )


def sample_objects(
    client: S3Client,
    spec: ObjectSourceSpec,
    dest: Path,
    max_bytes: int = 16 * 1024 * 1024,
    max_objects: int = 3,
) -> list[Path]:
    """Local copies of the first objects under ``spec.prefix`` (key order), for inferring a
    contract from a sample: at most ``max_objects`` objects and ``max_bytes`` of each
    (gunzipped; a text object cut at its last complete line). Each copy is named after
    its key without ``.gz``, so the format can be told from the name. A Parquet object is
    taken only whole (its footer is at the end)."""
    dest.mkdir(parents=True, exist_ok=True)
    out: list[Path] = []
    for i, v in enumerate(list_versions(client, spec, "")):
        if i >= max_objects:
            break
        name = Path(v.key).name
        name = name[: -len(".gz")] if name.lower().endswith(".gz") else name
        parquet = name.lower().endswith((".parquet", ".pq"))
        if parquet and v.size > max_bytes:
            continue
        args: dict[str, Any] = {"Bucket": v.bucket, "Key": v.key, "IfMatch": v.etag}
        cut = v.size > max_bytes
        if cut:
            args["Range"] = f"bytes=0-{max_bytes - 1}"
        stream, _ = open_object(client.get_object(**args)["Body"])
        with stream:
            data = stream.read(max_bytes + 1)[:max_bytes]  # gunzipped; damage ends it
        if cut or stream.error is not None or len(data) == max_bytes:
            data = data[: data.rfind(b"\n") + 1] or data  # whole lines only
        path = dest / f"{i:02d}_{name}"
        path.write_bytes(data)
        out.append(path)
    return out
