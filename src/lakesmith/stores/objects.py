"""Object storage (S3 / MinIO / the local moto server) through boto3."""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from lakesmith.config import Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def s3_client(settings: Settings) -> S3Client:
    """A boto3 S3 client for the configured endpoint (the local server when unset)."""
    key, secret = settings.effective_s3_credentials() or (None, None)  # None: the SDK's chain
    return boto3.client(
        "s3",
        endpoint_url=settings.effective_s3_endpoint(),
        region_name=settings.s3.region,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(
            retries={"max_attempts": 5, "mode": "standard"}, s3={"addressing_style": "path"}
        ),
    )


def ensure_bucket(client: S3Client, bucket: str) -> None:
    """Create ``bucket`` unless it exists (idempotent)."""
    try:
        client.head_bucket(Bucket=bucket)
    except ClientError:
        client.create_bucket(Bucket=bucket)
