"""The ``s3`` source on the local S3 server: every object version once, hostile objects
quarantined with a reason, the ledger (the sinks' positions) matching the bucket."""

from __future__ import annotations

import gzip
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import polars as pl
import pytest

from lakesmith.config import Settings
from lakesmith.contracts.model import Contract
from lakesmith.pipeline.dataset import Dataset
from lakesmith.pipeline.sinks import build_sinks
from lakesmith.pipeline.worker import RunStats, Worker
from lakesmith.sources.objects import EOF
from lakesmith.sources.objects_spec import stream_name
from lakesmith.stores.objects import ensure_bucket, s3_client
from lakesmith.testing.pipeline import read_sinks, unique_contract

pytestmark = pytest.mark.integration
T0 = int((datetime.now(UTC) - timedelta(days=1)).timestamp() * 1000)


def event(session: int, item: int, page: str = "NextSong") -> dict[str, object]:
    play = page == "NextSong"
    return {
        "ts": T0 + session * 1000 + item, "userId": str(session % 50), "sessionId": session,
        "itemInSession": item, "page": page, "auth": "Logged In", "method": "PUT" if play else "GET",
        "status": 200, "level": "free", "location": "Austin-Round Rock, TX",
        "userAgent": '"Mozilla/5.0"', "lastName": "Doe", "firstName": "Ann",
        "registration": 1540344794796.0, "gender": "F", "artist": "A" if play else None,
        "song": "S" if play else None, "length": 200.5 if play else None,
    }  # fmt: skip


def lines(session: int, n: int) -> bytes:
    return b"\n".join(orjson.dumps(event(session, i)) for i in range(n)) + b"\n"


@pytest.fixture
def landing(stack_settings: Settings, tmp_path: Path) -> Iterator[tuple[Contract, str]]:
    bucket = f"landing-{uuid.uuid4().hex[:8]}"
    ensure_bucket(s3_client(stack_settings), bucket)
    source = {"kind": "s3", "bucket": bucket, "prefix": "events/", "poll_interval_s": 0.2}
    contract, _ = unique_contract(tmp_path, "music.events", source=source)
    yield contract, bucket


def run(settings: Settings, contract: Contract) -> RunStats:
    worker = Worker(settings, contract)
    try:
        return worker.run(until_idle=True)
    finally:
        worker.close()


def ledger(settings: Settings, contract: Contract, bucket: str) -> dict[str, object]:
    """Every listed object version → its committed position over all sinks."""
    client = s3_client(settings)
    listed = client.list_objects_v2(Bucket=bucket, Prefix="events/").get("Contents", [])
    streams = [stream_name(bucket, o["Key"], o["ETag"]) for o in listed]
    dataset = Dataset(settings, contract)
    sinks = build_sinks(dataset)
    try:
        from lakesmith.core.positions import lowest

        found = lowest([s.positions(streams) for s in sinks], streams)
    finally:
        for s in sinks:
            s.close()
        dataset.close()
    return {s: found.get(s) for s in streams}


def test_hostile_objects_end_in_quarantine_with_reasons(
    stack_settings: Settings, landing: tuple[Contract, str]
) -> None:
    contract, bucket = landing
    client = s3_client(stack_settings)
    good = lines(1, 30)
    truncated = gzip.compress(lines(2, 400))[:-30]
    objects = {
        "events/2025/01/20/10/events_20250120T1000_0.json": good,
        "events/2025/01/20/10/events_20250120T1001_0.json.gz": gzip.compress(lines(3, 20)),
        "events/2025/01/20/10/events_20250120T1002_0.json.gz": lines(4, 10),  # not gzip
        "events/2025/01/20/10/events_20250120T1003_0.json.gz": truncated,
        "events/2025/01/20/10/gzip without the suffix.json": gzip.compress(lines(7, 8)),
        "events/2025/01/20/10/garbage.bin": bytes(range(256)) * 40,
        "events/2025/01/20/10/empty.json": b"",
        "events/2025/01/20/10/blank lines é ü.json": b"\n\n  \n",
        "events/2025/01/20/10/long.json": orjson.dumps(event(5, 0)) + b"\n" + b"x" * 20_000,
        "events/2025/01/20/10/mixed @ key+ü.json": lines(6, 5) + b"{not json\n",
    }
    for key, body in objects.items():
        client.put_object(Bucket=bucket, Key=key, Body=body)
    stats = run(stack_settings, contract)
    sinks = read_sinks(stack_settings, contract)
    q = sinks.quarantine.with_columns(pl.col("_rule_ids").list.first().alias("rule"))
    by_rule = dict(q.group_by("rule").len().iter_rows())
    assert by_rule["empty_object"] == 2  # empty, blank lines only
    assert by_rule["unreadable_object"] == 1  # the truncated gzip stream
    assert by_rule["payload_too_large"] == 1
    assert by_rule["invalid_json"] >= 2  # garbage lines, {not json
    msg = q.filter(pl.col("rule") == "unreadable_object")["_messages"].to_list()[0][0]
    assert "T1003" in msg and "unreadable after" in msg
    assert sinks.silver.filter(pl.col("session_id") == 1).height == 30
    assert sinks.silver.filter(pl.col("session_id") == 3).height == 20
    assert sinks.silver.filter(pl.col("session_id") == 4).height == 10
    assert sinks.silver.filter(pl.col("session_id") == 6).height == 5
    assert sinks.silver.filter(pl.col("session_id") == 7).height == 8  # gzip by magic bytes
    kept = sinks.silver.filter(pl.col("session_id") == 2).height
    assert 0 < kept < 400  # the lines before the damage
    assert stats.records == sinks.bronze.height == sinks.silver.height + q.height
    assert sinks.bronze["_record_id"].n_unique() == sinks.bronze.height
    # every object version is finished in the ledger
    positions = ledger(stack_settings, contract, bucket)
    assert len(positions) == len(objects)
    assert all(p is not None and p.cursor == EOF for p in positions.values()), positions


@pytest.mark.parametrize("lake_format", ["iceberg", "delta"])
def test_new_and_overwritten_objects_once_across_runs(
    stack_settings: Settings, landing: tuple[Contract, str], lake_format: str, tmp_path: Path
) -> None:
    contract, bucket = landing
    if lake_format == "delta":  # the eof cursors ride in Delta's commit infos
        lake = {**contract.lake.model_dump(mode="json"), "format": "delta"}
        contract, _ = unique_contract(tmp_path, contract, lake=lake)
    client = s3_client(stack_settings)
    keys = [f"events/2025/01/20/10/events_20250120T10{m:02d}_0.json.gz" for m in range(6)]
    for i, key in enumerate(keys[:4]):
        client.put_object(Bucket=bucket, Key=key, Body=gzip.compress(lines(10 + i, 100)))
    first = run(stack_settings, contract)
    assert first.records == 400
    assert run(stack_settings, contract).records == 0  # nothing new: nothing read
    # a late object below the watermark, new ones above it, one key overwritten
    client.put_object(Bucket=bucket, Key="events/2025/01/20/09/late.json", Body=lines(20, 7))
    for i, key in enumerate(keys[4:]):
        client.put_object(Bucket=bucket, Key=key, Body=lines(30 + i, 50))
    client.put_object(Bucket=bucket, Key=keys[1], Body=lines(40, 9))  # new ETag
    second = run(stack_settings, contract)
    assert second.records == 7 + 100 + 9
    sinks = read_sinks(stack_settings, contract)
    assert sinks.bronze.height == 400 + 116
    assert sinks.bronze["_record_id"].n_unique() == sinks.bronze.height
    assert sinks.silver.height == 400 + 116
    streams = sinks.bronze["_stream"].unique()
    assert streams.len() == 4 + 1 + 2 + 1  # the old version of keys[1] stays in bronze
    assert all(
        p is not None and p.cursor == EOF for p in ledger(stack_settings, contract, bucket).values()
    )


def test_notifications_list_new_objects_at_once(
    stack_settings: Settings, landing: tuple[Contract, str], tmp_path: Path
) -> None:
    import boto3

    from lakesmith.sources.base import SourceContext
    from lakesmith.sources.objects import ObjectSource

    _, bucket = landing
    client = s3_client(stack_settings)
    key, secret = stack_settings.effective_s3_credentials() or ("", "")
    sqs = boto3.client(
        "sqs", endpoint_url=stack_settings.effective_s3_endpoint(), region_name="us-east-1",
        aws_access_key_id=key, aws_secret_access_key=secret,
    )  # fmt: skip
    url = sqs.create_queue(QueueName=f"{bucket}-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    client.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn["QueueArn"], "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    client.put_object(Bucket=bucket, Key="events/2025/01/20/10/b.json", Body=lines(50, 3))
    source = {
        "kind": "s3", "bucket": bucket, "prefix": "events/", "poll_interval_s": 3600,
        "rescan_interval_s": 0, "notifications_queue": f"{bucket}-events",
    }  # fmt: skip
    contract, _ = unique_contract(tmp_path, "music.events", source=source)
    src = ObjectSource(SourceContext(stack_settings, contract, "g", resume=lambda s: {}))

    def read(expected: int) -> list[int]:
        seqs: list[int] = []
        deadline = time.monotonic() + 15
        while len(seqs) < expected and time.monotonic() < deadline:
            batch = src.poll(1000, 2.0)
            seqs += batch.seq_column().to_list()
            if len(batch):
                src.committed(batch.next_positions())  # as the worker does once written
        return seqs

    try:
        assert read(3) == [0, 1, 2]  # listed at start
        # polling every hour: only the notification can make these show up now
        client.put_object(Bucket=bucket, Key="events/2025/01/20/11/c.json", Body=lines(51, 4))
        assert read(4) == [0, 1, 2, 3]
        client.put_object(Bucket=bucket, Key="events/2025/01/20/09/late.json", Body=lines(52, 2))
        assert read(2) == [0, 1]  # below the watermark: a full listing finds it
    finally:
        src.close()


def test_a_missing_bucket_is_one_clear_error(stack_settings: Settings, tmp_path: Path) -> None:
    from lakesmith.core.errors import SourceError
    from lakesmith.sources.base import SourceContext
    from lakesmith.sources.objects import ObjectSource

    source = {"kind": "s3", "bucket": "no-such-bucket-here", "prefix": "events/"}
    contract, _ = unique_contract(tmp_path, "music.events", source=source)
    with pytest.raises(SourceError, match="cannot list s3://no-such-bucket-here/events/"):
        ObjectSource(SourceContext(stack_settings, contract, "g", resume=lambda s: {}))
