"""The shared sink suite (``lakesmith.testing.sink_suite``) on every sink and lake backend."""

from __future__ import annotations

import pytest

from lakesmith.config import Settings
from lakesmith.stores.objects import ensure_bucket, s3_client
from lakesmith.testing.sink_suite import SinkSuite

pytestmark = pytest.mark.integration


def _lake(settings: Settings, **lake: str) -> Settings:
    return settings.model_copy(update={"lake": settings.lake.model_copy(update=lake)})


def _on_s3(settings: Settings, bucket: str, **lake: str) -> Settings:
    ensure_bucket(s3_client(settings), bucket)
    return _lake(settings, warehouse=f"s3://{bucket}/warehouse", **lake)


class TestIcebergFolderSqlite(SinkSuite):
    @pytest.fixture
    def backend_settings(self, stack_settings: Settings) -> Settings:
        return stack_settings


class TestIcebergS3PostgresCatalog(SinkSuite):
    @pytest.fixture
    def backend_settings(self, stack_settings: Settings) -> Settings:
        return _on_s3(stack_settings, "suite-iceberg", catalog="postgres")


class TestDeltaFolder(SinkSuite):
    @pytest.fixture
    def backend_settings(self, stack_settings: Settings) -> Settings:
        return _lake(stack_settings, format="delta")


class TestDeltaS3(SinkSuite):
    @pytest.fixture
    def backend_settings(self, stack_settings: Settings) -> Settings:
        return _on_s3(stack_settings, "suite-delta", format="delta")


class TestTimeseriesPostgres(SinkSuite):
    sink_name = "timeseries"

    @pytest.fixture
    def backend_settings(self, stack_settings: Settings) -> Settings:
        return stack_settings
