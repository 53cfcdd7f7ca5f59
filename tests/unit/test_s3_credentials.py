"""S3 credentials: keys when configured, placeholders for the local server, and otherwise
nothing (the AWS SDK's default chain: env, profile, ECS task role, EKS IRSA, IMDS) — in
boto3, the Iceberg FileIO properties and delta-rs's storage options alike."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from lakesmith.config import Settings
from lakesmith.stores.lake.delta_layout import storage_options


def _settings(tmp_path: Path, **s3: object) -> Settings:
    base = Settings(state_dir=tmp_path, lake={"warehouse": "s3://lake/warehouse"})
    return base.model_copy(update={"s3": base.s3.model_copy(update=s3)})


def test_local_server_gets_placeholders(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    assert s.effective_s3_credentials() == ("lakesmith-local", "lakesmith-local")
    assert storage_options(s)["AWS_ACCESS_KEY_ID"] == "lakesmith-local"


def test_configured_keys_win(tmp_path: Path) -> None:
    s = _settings(
        tmp_path,
        endpoint_url="https://s3.eu-west-1.amazonaws.com",
        access_key_id=SecretStr("AKIAEXAMPLE"),
        secret_access_key=SecretStr("not-a-secret"),
    )
    assert s.effective_s3_credentials() == ("AKIAEXAMPLE", "not-a-secret")
    assert s.lake_s3_options()["access_key_id"] == "AKIAEXAMPLE"


def test_real_endpoint_without_keys_uses_the_sdk_chain(tmp_path: Path) -> None:
    s = _settings(tmp_path, endpoint_url="https://s3.eu-west-1.amazonaws.com")
    assert s.effective_s3_credentials() is None
    options = s.lake_s3_options()
    assert "access_key_id" not in options and "secret_access_key" not in options
    delta = storage_options(s)
    assert "AWS_ACCESS_KEY_ID" not in delta and "AWS_SECRET_ACCESS_KEY" not in delta
    assert delta["AWS_ENDPOINT_URL"] == "https://s3.eu-west-1.amazonaws.com"
    assert "AWS_ALLOW_HTTP" not in delta


def test_only_one_key_is_not_enough(tmp_path: Path) -> None:
    s = _settings(
        tmp_path, endpoint_url="http://minio:9000", access_key_id=SecretStr("half")
    )  # a half-configured pair must not be sent as if complete
    assert s.effective_s3_credentials() is None
