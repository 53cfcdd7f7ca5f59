"""The ``s3`` source kind's contract section (kept apart from the reader so a contract
loads without importing boto3)."""

from __future__ import annotations

from typing import Literal
from urllib.parse import quote

from pydantic import Field, field_validator

from lakesmith.contracts.model import SourceSpec


class ObjectSourceSpec(SourceSpec):
    """``source: {kind: s3, bucket: landing, prefix: events/, poll_interval_s: 5}``

    Endpoint, region and keys come from the ``[s3]`` settings (the local server when
    ``s3.endpoint_url`` is unset), so the same contract reads MinIO, AWS S3 or moto."""

    kind: Literal["s3"] = "s3"
    bucket: str = Field(min_length=3, max_length=63, description="the landing bucket")
    prefix: str = Field("", description="only keys starting with this (e.g. events/)")
    poll_interval_s: float = Field(5.0, gt=0, description="seconds between listings when idle")
    rescan_interval_s: float = Field(
        300.0,
        ge=0,
        description="seconds between full listings of the prefix, which find objects written "
        "below the listing watermark (late keys, overwritten keys); 0: only at start",
    )
    chunk_records: int = Field(50_000, ge=1, description="records read from an object at a time")
    prefetch_objects: int = Field(
        8, ge=0, description="objects (up to 64 MiB each) fetched ahead in threads; 0: none"
    )
    notifications_queue: str | None = Field(
        None,
        description="SQS queue (URL or name) receiving the bucket's ObjectCreated events: new "
        "objects are listed as soon as they are notified, not at the next poll",
    )
    notifications_endpoint_url: str | None = Field(
        None, description="the queue's endpoint; default: the [s3] endpoint"
    )
    suffixes: list[str] = Field(
        [], description="only keys ending with one of these (e.g. .json, .json.gz); [] = all"
    )

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, v: str) -> str:
        if "/" in v or v.startswith("s3:"):
            raise ValueError(f"bucket {v!r}: give the bucket name only (prefix: for the rest)")
        return v

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{quote(self.prefix)}"

    @property
    def uri_sep(self) -> str:
        return "#line="


def stream_name(bucket: str, key: str, etag: str) -> str:
    """The stream of one object version: ``s3://bucket/<key, %-encoded>@<etag>``."""
    return f"s3://{bucket}/{quote(key, safe='/')}@{etag.strip(chr(34))}"
