"""``reprocess --from bronze`` after the landing objects are deleted gives identical
silver, quarantine and DQ totals; the real Eventsim files ingest with nothing unexplained."""

from __future__ import annotations

import gzip
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from lakesmith.config import Settings
from lakesmith.contracts.model import Contract
from lakesmith.domains.music.shipper import ShipOptions, ship, slices_of_frame
from lakesmith.domains.music.simulator import MusicSimConfig, generate_frame
from lakesmith.maintenance.reprocess import reprocess_from_bronze
from lakesmith.pipeline.worker import Worker
from lakesmith.stores.dq import dq_totals
from lakesmith.stores.objects import ensure_bucket, s3_client
from lakesmith.stores.postgres import connect
from lakesmith.testing.pipeline import read_sinks, unique_contract
from lakesmith.testing.stack import worker_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]
VOLATILE = ["_ingested_at", "_batch_id", "_quarantined_at"]


def _landing(settings: Settings, tmp_path: Path) -> tuple[Contract, Path, str]:
    bucket = f"landing-{uuid.uuid4().hex[:8]}"
    ensure_bucket(s3_client(settings), bucket)
    source = {"kind": "s3", "bucket": bucket, "prefix": "events/", "poll_interval_s": 0.2}
    contract, path = unique_contract(tmp_path, "music.events", source=source)
    return contract, path, bucket


def _drain(settings: Settings, contract: Contract) -> None:
    worker = Worker(settings, contract)
    try:
        worker.run(until_idle=True)
    finally:
        worker.close()


def _stable(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.drop([c for c in VOLATILE if c in frame.columns]).sort("_record_id")


def test_reprocess_from_bronze_without_the_landing_objects(
    stack_settings: Settings, tmp_path: Path
) -> None:
    contract, path, bucket = _landing(stack_settings, tmp_path)
    client = s3_client(stack_settings)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    frame = generate_frame(MusicSimConfig(users=80, days=1, seed=3, start=start))
    options = ShipOptions(bucket=bucket, batch_seconds=1800)
    ship(client, slices_of_frame(frame, options), options, frame.height, progress=False)
    dup = frame.head(5).write_ndjson().encode()  # the same events again: duplicates
    client.put_object(Bucket=bucket, Key="events/zz/dup.json", Body=dup)
    client.put_object(Bucket=bucket, Key="events/zz/bad.json.gz", Body=gzip.compress(b"{x\n")[:-9])
    _drain(stack_settings, contract)
    before = read_sinks(stack_settings, contract)
    with connect(stack_settings) as conn:
        totals = dq_totals(conn, contract.name)
    assert before.silver.height == frame.height
    assert before.quarantine.height == 2  # the broken line, the truncated gzip stream
    assert totals is not None and totals[3] == 5  # duplicates

    for o in client.list_objects_v2(Bucket=bucket)["Contents"]:  # the landing data is gone
        client.delete_object(Bucket=bucket, Key=o["Key"])
    reset, stats = reprocess_from_bronze(stack_settings, contract)
    assert {"quarantine", "dq"} <= set(reset)  # and the silver (split) and gold sinks
    assert any(name.startswith("silver") for name in reset) and "bronze" not in reset
    assert stats.records == before.bronze.height
    after = read_sinks(stack_settings, contract)
    assert _stable(after.bronze).equals(_stable(before.bronze))
    assert _stable(after.silver).equals(_stable(before.silver))
    assert _stable(after.quarantine).equals(_stable(before.quarantine))
    with connect(stack_settings) as conn:
        assert dq_totals(conn, contract.name) == totals

    # the command line does the same (with --yes: no question)
    ran = subprocess.run(
        [sys.executable, "-m", "lakesmith", "reprocess", str(path), "--from", "bronze", "--yes"],
        env=worker_env(stack_settings), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert "reset: quarantine, silver" in ran.stdout, ran.stdout
    assert _stable(read_sinks(stack_settings, contract).silver).equals(_stable(before.silver))


def test_real_eventsim_files_shipped_and_ingested(
    stack_settings: Settings, external_data: Path, tmp_path: Path
) -> None:
    files = sorted((external_data / "eventsim").glob("*.json"))
    if not files:
        pytest.skip("no Eventsim files")
    contract, path, bucket = _landing(stack_settings, tmp_path)
    env = worker_env(stack_settings)
    shipped = subprocess.run(
        [sys.executable, "-m", "lakesmith", "ship", "music", "--bucket", bucket,
         "--batch-seconds", "3600", "--no-progress", "--from", *map(str, files)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert shipped.returncode == 0, shipped.stderr[-2000:]
    assert "shipped" in shipped.stdout
    ran = subprocess.run(
        [sys.executable, "-m", "lakesmith", "run", str(path), "--until-idle"],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-2000:]
    lines = [ln for f in files for ln in f.read_bytes().splitlines() if ln.strip()]
    sinks = read_sinks(stack_settings, contract)
    assert sinks.bronze.height == len(lines)  # every line read once
    assert sinks.bronze["_record_id"].n_unique() == len(lines)
    assert sinks.silver.height + sinks.quarantine.height == len(lines)  # no duplicates here
    assert sinks.quarantine.filter(pl.col("_rule_ids").list.len() == 0).height == 0
    assert sinks.silver.height > 0.99 * len(lines)
    assert sinks.silver["user_id"].null_count() > 0  # logged-out visitors: userId ""
    assert sorted(set(sinks.bronze["_payload"].to_list())) == sorted(set(lines))  # byte for byte
