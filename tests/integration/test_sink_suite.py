"""The shared sink suite (``lakesmith.testing.sink_suite``) on every sink and lake backend."""

from __future__ import annotations

from datetime import datetime, timedelta

import orjson
import polars as pl
import pytest

from lakesmith.config import Settings
from lakesmith.contracts.model import Contract
from lakesmith.core.columns import RECORD_ID
from lakesmith.pipeline.dataset import Dataset
from lakesmith.stores.objects import ensure_bucket, s3_client
from lakesmith.stores.warehouse import Warehouse
from lakesmith.testing.pipeline import read_sinks
from lakesmith.testing.sink_suite import NOW, SinkSuite

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


class TestIcebergS3GlueCatalog(SinkSuite):
    """The AWS Glue Data Catalog (``lake.catalog = "glue"``), served here by the local S3
    server (moto implements Glue), with the warehouse on that server."""

    @pytest.fixture
    def backend_settings(self, stack_settings: Settings) -> Settings:
        return _on_s3(stack_settings, "suite-glue", catalog="glue")

    def test_tables_are_registered_in_glue(self, dataset: Dataset) -> None:
        import boto3

        settings = dataset.settings
        key, secret = settings.effective_s3_credentials() or ("", "")
        glue = boto3.client(
            "glue", endpoint_url=settings.effective_s3_endpoint(), region_name=settings.s3.region,
            aws_access_key_id=key, aws_secret_access_key=secret,
        )  # fmt: skip
        namespace, name = dataset.silver.label.split(".", 1)
        table = glue.get_table(DatabaseName=namespace, Name=name)["Table"]
        assert table["Parameters"]["table_type"].upper() == "ICEBERG"
        location = table["Parameters"]["metadata_location"]
        assert location.startswith("s3://suite-glue/warehouse/"), location


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


# -- the gold sinks (music.events → the music star schema) ------------------------------------


class MusicGoldSuite(SinkSuite):
    """The suite on a gold sink: every record a play (``NextSong``), so the sink's facts
    are the batch's records; a bad record has a negative length (quarantined)."""

    base_contract = "music.events"
    evolves = False  # a gold model's tables do not follow the contract's fields

    def payload(self, i: int, pressure: bool = False, bad: bool = False) -> bytes:
        ts = NOW - timedelta(seconds=3600 - i)
        return orjson.dumps({
            "ts": int(ts.timestamp() * 1000), "userId": str(i % 13 + 1), "sessionId": i // 50,
            "itemInSession": i % 50, "page": "NextSong", "auth": "Logged In", "method": "PUT",
            "status": 200, "level": "paid" if i % 13 == 3 and i > 60 else "free",
            "location": "Austin-Round Rock, TX", "userAgent": "Mozilla/5.0 (X11; Linux x86_64)",
            "lastName": "L", "firstName": "F", "registration": 1540919166796.0, "gender": "F",
            "artist": f"Artist {i % 5}", "song": f"Song {i % 17}", "length": -1.0 if bad else 200.0,
        })  # fmt: skip

    def facts(self, dataset: Dataset) -> pl.DataFrame:
        if self.sink_name == "warehouse":
            model, spec = dataset.gold_model, dataset.contract.gold
            assert model is not None and spec is not None
            wh = Warehouse(dataset.settings, model, spec.schema_name)
            try:
                return wh.read(wh.conn, model.table("fact_listen"))
            finally:
                wh.close()
        return dataset.gold["fact_listen"].scan()

    def rows_in(self, dataset: Dataset) -> pl.DataFrame:
        return self.facts(dataset).rename({"listen_key": RECORD_ID})

    def check_exactly_once(
        self, settings: Settings, contract: Contract, total: int, bad: int
    ) -> None:
        sinks = read_sinks(settings, contract)
        assert sinks.bronze.height == sinks.bronze[RECORD_ID].n_unique() == total
        assert sinks.quarantine.height == bad
        dataset = Dataset(settings, contract)
        try:
            facts = self.facts(dataset)
            users = dataset.gold["dim_user"].scan() if dataset.gold else None
        finally:
            dataset.close()
        assert sorted(facts["listen_key"].to_list()) == sorted(sinks.silver[RECORD_ID].to_list())
        assert facts.height == total - bad
        if users is not None:  # the user switching to paid has two versions, no more
            assert users.height == 14 and users["user_key"].is_unique().all()


class TestGoldLakeIceberg(MusicGoldSuite):
    sink_name = "gold"

    @pytest.fixture
    def backend_settings(self, stack_settings: Settings) -> Settings:
        return stack_settings


class TestGoldLakeDeltaS3(MusicGoldSuite):
    sink_name = "gold"

    @pytest.fixture
    def backend_settings(self, stack_settings: Settings) -> Settings:
        return _on_s3(stack_settings, "suite-gold-delta", format="delta")


class TestGoldWarehouse(MusicGoldSuite):
    sink_name = "warehouse"

    @pytest.fixture
    def backend_settings(self, stack_settings: Settings) -> Settings:
        return stack_settings


# -- silver keeping the newest version of each key (``silver.versions: latest``) ----------------


class LatestSilverSuite(SinkSuite):
    """The suite on ``LatestLakeSink`` (helpdesk tickets: one ticket per record ``i``; a bad
    record has a priority out of range), plus what only that sink promises: a newer
    version of a key replaces the older row, and a replay of the older one changes nothing."""

    base_contract = "helpdesk.tickets"
    evolves = False  # the contract declares no later version

    def payload(self, i: int, pressure: bool = False, bad: bool = False) -> bytes:
        return self.ticket(i, "open", NOW - timedelta(seconds=3600 - i), 9 if bad else 1 + i % 4)

    @staticmethod
    def ticket(i: int, status: str, updated: object, priority: int = 2) -> bytes:
        return orjson.dumps({
            "id": i, "subject": f"printer {i} jams", "status": status, "priority": priority,
            "customer": {"name": f"C {i % 7}", "email": f"c{i % 7}@example.test"},
            "created_at": (NOW - timedelta(days=1)).isoformat(),
            "updated_at": updated.isoformat() if isinstance(updated, datetime) else updated,
        })  # fmt: skip

    def test_newer_version_replaces_and_replay_keeps_newest(self, dataset: Dataset) -> None:
        from lakesmith.core.records import RawBatch

        sink = self.sink_of(dataset)
        first = RawBatch(source="suite://")
        first.extend("suite://a", list(range(10)), [self.payload(i) for i in range(10)])
        older = self.process(dataset, first)
        assert self.commit(sink, older) == 10
        later = RawBatch(source="suite://")
        statuses = ["solved", "closed", "pending"]
        updates = [self.ticket(i, statuses[i], NOW + timedelta(minutes=i)) for i in range(3)]
        later.extend("suite://a", [10, 11, 12], updates)
        self.commit(sink, self.process(dataset, later))
        assert self.commit(sink, older) == 0  # a replay of the old versions
        rows = self.rows_in(dataset).sort("ticket_id")
        assert rows.height == 10 and rows["ticket_id"].is_unique().all()
        assert rows["status"].to_list()[:4] == ["solved", "closed", "pending", "open"]

    def check_exactly_once(
        self, settings: Settings, contract: Contract, total: int, bad: int
    ) -> None:
        sinks = read_sinks(settings, contract)
        assert sinks.bronze.height == sinks.bronze[RECORD_ID].n_unique() == total
        assert sinks.quarantine.height == sinks.quarantine[RECORD_ID].n_unique() == bad
        assert sinks.silver.height == total - bad
        assert sinks.silver["ticket_id"].is_unique().all()


class TestLatestSilverIceberg(LatestSilverSuite):
    @pytest.fixture
    def backend_settings(self, stack_settings: Settings) -> Settings:
        return stack_settings


class TestLatestSilverDeltaS3(LatestSilverSuite):
    @pytest.fixture
    def backend_settings(self, stack_settings: Settings) -> Settings:
        return _on_s3(stack_settings, "suite-latest-delta", format="delta")
