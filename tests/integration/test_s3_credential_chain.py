"""An S3 endpoint configured without keys: boto3 and the lake (Iceberg FileIO, delta-rs)
find the credentials through the AWS default chain — here its first link, the
environment — against the real local S3 server."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakesmith.config import Settings
from lakesmith.pipeline.dataset import Dataset
from lakesmith.stores.objects import ensure_bucket, s3_client
from lakesmith.testing.pipeline import read_sinks, unique_contract
from lakesmith.testing.sink_suite import process_into, raw_batch

pytestmark = pytest.mark.integration


def _chain_settings(stack: Settings, bucket: str, fmt: str) -> Settings:
    s3 = stack.s3.model_copy(
        update={"endpoint_url": stack.effective_s3_endpoint(), "access_key_id": None,
                "secret_access_key": None}
    )  # fmt: skip
    lake = stack.lake.model_copy(update={"warehouse": f"s3://{bucket}/warehouse", "format": fmt})
    return stack.model_copy(update={"s3": s3, "lake": lake})


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_lake_on_s3_with_credentials_from_the_environment(
    stack_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "from-the-environment")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "from-the-environment")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no IMDS probe on a laptop
    settings = _chain_settings(stack_settings, f"chain-{fmt}", fmt)
    assert settings.effective_s3_credentials() is None
    ensure_bucket(s3_client(settings), f"chain-{fmt}")
    contract, _ = unique_contract(tmp_path)
    dataset = Dataset(settings, contract).ensure()
    try:
        process_into(dataset, raw_batch("chain://a", range(25)))
    finally:
        dataset.close()
    assert read_sinks(settings, contract).bronze.height == 25
    listed = s3_client(settings).list_objects_v2(Bucket=f"chain-{fmt}")
    assert listed.get("KeyCount", 0) > 0
