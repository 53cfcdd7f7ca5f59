"""A trickle must not write a file per batch forever: lake tables commit by their commit
policy (``lake.commit_interval_s``) and compact themselves every N commits
(``lake.compact_every_commits``). Ten minutes of 50 events/s, gathered in 2 s batches as
the worker does, are simulated with a fake clock against the real tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from lakesmith.config import Settings
from lakesmith.core.positions import Position
from lakesmith.core.records import RawBatch
from lakesmith.pipeline.dataset import Dataset
from lakesmith.pipeline.process import process_batch
from lakesmith.pipeline.sinks import build_sinks
from lakesmith.silver.dedupe import DedupeIndex
from lakesmith.stores.lake.iceberg import IcebergTable
from lakesmith.testing.pipeline import read_sinks, unique_contract

pytestmark = pytest.mark.integration

RATE, BATCH_S, MINUTES = 50, 2.0, 10
START = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=1)


def _batch(i: int) -> RawBatch:
    per = int(RATE * BATCH_S)
    seqs = range(i * per, (i + 1) * per)
    payloads = [
        orjson.dumps(
            {
                "device_id": f"dev-{s % 25:03d}",
                "timestamp": (START + timedelta(seconds=s / RATE)).isoformat(),
                "temperature": 21.5,
                "humidity": 40.0,
            }
        )
        for s in seqs
    ]
    raw = RawBatch(source="trickle://")
    raw.extend("trickle://p0", list(seqs), payloads)
    return raw


def _data_files(table: object) -> int:
    assert isinstance(table, IcebergTable)  # the default format
    return int(table.refresh().inspect.files().num_rows)


@pytest.mark.parametrize(("interval", "compact_every"), [(60.0, 4), (60.0, 0)])
def test_ten_minutes_at_50_events_per_second(
    stack_settings: Settings, tmp_path: Path, interval: float, compact_every: int
) -> None:
    settings = stack_settings.model_copy(
        update={
            "lake": stack_settings.lake.model_copy(
                update={"commit_interval_s": interval, "compact_every_commits": compact_every}
            )
        }
    )
    contract, _ = unique_contract(tmp_path)
    dataset = Dataset(settings, contract).ensure()
    now = [0.0]
    sinks = build_sinks(dataset, clock=lambda: now[0])
    dedupe = DedupeIndex(contract.keys)
    batches = int(MINUTES * 60 / BATCH_S)
    try:
        for i in range(batches):
            batch = process_batch(_batch(i), contract, START, dedupe, dataset.accepted_version())
            dataset.evolve(batch)
            for sink in sinks:
                sink.write(batch)
                sink.flush()  # the worker's idle tick
            now[0] += BATCH_S
        for sink in sinks:
            sink.flush(force=True)  # the worker's last flush before it exits
        commits = {s.name: s.commits for s in sinks}
        files = {n: _data_files(dataset.lake[n]) for n in ("bronze", "silver")}
    finally:
        for sink in sinks:
            sink.close()
        dataset.close()
    print(f"{batches} batches → commits {commits}, data files {files}")
    total = batches * int(RATE * BATCH_S)
    # one commit a minute (+ the final flush), not one a batch; DQ and time series: every batch
    assert commits["bronze"] == commits["silver"] <= MINUTES + 1
    assert commits["dq"] == batches
    if compact_every:
        assert max(files.values()) <= compact_every  # compacted every few commits
    else:
        assert files["silver"] == commits["silver"]
    sinks_read = read_sinks(settings, contract)
    assert sinks_read.bronze.height == sinks_read.silver.height == total
    assert dataset.silver.positions(["trickle://p0"]) == {"trickle://p0": Position(total)}
