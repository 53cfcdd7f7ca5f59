"""The local S3-compatible server with the boto3 client lakesmith uses."""

from __future__ import annotations

import pytest

from lakesmith.config import Settings
from lakesmith.stores.objects import ensure_bucket, s3_client

pytestmark = pytest.mark.integration


def test_put_list_get(stack_settings: Settings) -> None:
    client = s3_client(stack_settings)
    ensure_bucket(client, "landing")
    ensure_bucket(client, "landing")  # idempotent
    keys = [f"events/2025/01/20/batch-{i:03d}.json" for i in range(12)] + ["other/readme.txt"]
    for key in keys:
        client.put_object(Bucket="landing", Key=key, Body=f"payload of {key}".encode())

    listed = client.list_objects_v2(Bucket="landing", Prefix="events/")
    assert [o["Key"] for o in listed["Contents"]] == sorted(keys[:12])

    after = client.list_objects_v2(Bucket="landing", Prefix="events/", StartAfter=keys[9])
    assert [o["Key"] for o in after["Contents"]] == keys[10:12]

    body = client.get_object(Bucket="landing", Key=keys[3])["Body"].read()
    assert body == f"payload of {keys[3]}".encode()
