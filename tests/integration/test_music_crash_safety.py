"""Exactly once per object version: workers SIGKILLed mid-batch and between sinks while
the shipper keeps adding objects to the bucket; the ledger matches the bucket listing."""

from __future__ import annotations

import random
import signal
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lakesmith.config import Settings
from lakesmith.contracts import load_contract
from lakesmith.core.positions import lowest
from lakesmith.domains.music.shipper import ShipOptions, object_key, slices_of_frame
from lakesmith.domains.music.simulator import MusicSimConfig, generate_frame
from lakesmith.pipeline.dataset import Dataset
from lakesmith.pipeline.sinks import build_sinks
from lakesmith.sources.objects import EOF
from lakesmith.sources.objects_spec import stream_name
from lakesmith.stores.objects import ensure_bucket, s3_client
from lakesmith.testing.pipeline import assert_exactly_once, unique_contract
from lakesmith.testing.stack import worker_env
from lakesmith.testing.workers import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_sigkill_while_objects_keep_arriving(stack_settings: Settings, tmp_path: Path) -> None:
    bucket = f"landing-{uuid.uuid4().hex[:8]}"
    client = s3_client(stack_settings)
    ensure_bucket(client, bucket)
    source = {
        "kind": "s3", "bucket": bucket, "prefix": "events/", "poll_interval_s": 0.2,
        "rescan_interval_s": 2, "chunk_records": 700,
    }  # fmt: skip
    # bronze, quarantine, the split silver tables and DQ (the gold sinks have their own
    # crash tests): what is checked here is the source's exactly once per object version
    base = load_contract("music.events").model_copy(update={"gold": None})
    contract, path = unique_contract(tmp_path, base, source=source)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    frame = generate_frame(MusicSimConfig(users=800, days=1, seed=11, start=start))
    options = ShipOptions(bucket=bucket, batch_seconds=600, gzip=True)
    slices = list(slices_of_frame(frame, options))
    assert len(slices) >= 100 and frame.height > 20_000
    total = frame.height + len(slices)  # one broken line per object
    expected = Counter(valid=frame.height, invalid_json=len(slices))

    def put(i: int) -> None:
        import gzip

        s = slices[i]
        body = s.body + b'{"ts": 1, "broken\n'
        client.put_object(
            Bucket=bucket, Key=object_key("events/", s.start_ms, 0, True), Body=gzip.compress(body)
        )

    for i in range(len(slices) // 3):
        put(i)

    def keep_shipping() -> None:
        for i in range(len(slices) // 3, len(slices)):
            time.sleep(0.15)
            put(i)

    shipper = threading.Thread(target=keep_shipping)
    shipper.start()
    rng = random.Random(7)
    plans: list[dict[str, str]] = [
        {"LAKESMITH_FAULT_KILL_AFTER": "silver.listen_events:2"},
        {"LAKESMITH_FAULT_KILL_AFTER": "bronze:1"},
        {},
        {"LAKESMITH_FAULT_KILL_AFTER": "dq:3"},
        {"LAKESMITH_FAULT_KILL_AFTER": "silver.page_view_events:3"},
        {},
    ]
    kills = 0
    for extra in plans:
        worker = WorkerProcess(path, worker_env(stack_settings, **extra))
        if extra:
            code = worker.proc.wait(120)
            assert code in (0, -signal.SIGKILL), "".join(worker.lines[-20:])
            kills += code == -signal.SIGKILL
        elif worker.wait_for_batches(1):
            time.sleep(rng.uniform(0.0, 0.5))  # mid-batch, mid-object
            if worker.proc.poll() is None:
                worker.kill()
                kills += 1
        else:
            worker.proc.wait(60)
    shipper.join()
    assert kills >= 3
    final = WorkerProcess(path, worker_env(stack_settings))
    assert final.proc.wait(300) == 0, "".join(final.lines[-30:])
    assert_exactly_once(stack_settings, contract, expected, total)

    # the ledger (positions committed with the data) holds every listed version, finished
    listed = client.list_objects_v2(Bucket=bucket, Prefix="events/")["Contents"]
    streams = [stream_name(bucket, o["Key"], o["ETag"]) for o in listed]
    assert len(streams) == len(slices)
    dataset = Dataset(stack_settings, contract)
    sinks = build_sinks(dataset)
    try:
        found = lowest([s.positions(streams) for s in sinks], streams)
    finally:
        for s in sinks:
            s.close()
        dataset.close()
    assert set(found) == set(streams)
    assert all(p.cursor == EOF for p in found.values())
