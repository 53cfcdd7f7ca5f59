"""``lakesmith ingest`` of ``.gz`` files and ``.json`` arrays: rows numbered by their
decompressed record / array index, a damaged gzip stops with a clear error and leaves
nothing half-committed, a malformed array element lands in quarantine with its index."""

from __future__ import annotations

import gzip
import json
import uuid
from pathlib import Path

import polars as pl
import pytest

from lakesmith.config import Settings
from lakesmith.core.errors import InputError
from lakesmith.pipeline.ingest import ingest, prepare
from lakesmith.testing.pipeline import read_sinks

pytestmark = pytest.mark.integration

ROW = pl.col("_source").str.extract(r"#row=(\d+)$").cast(pl.Int64)


def _csv(rows: int) -> bytes:
    body = b"".join(b"%d,2025-01-01T00:00:%02dZ,u%d\n" % (i, i % 60, i % 7) for i in range(rows))
    return b"id,ts,user\n" + body


def test_gzip_csv_is_ingested_by_decompressed_row(stack_settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv.gz"
    path.write_bytes(gzip.compress(_csv(3000) + b"3000,2025-01-01T00:00:00Z\n"))  # short
    name = f"gz.t_{uuid.uuid4().hex[:8]}"
    job = prepare(stack_settings, str(path), name, memory_limit=600 * 1024 * 1024)
    assert job.contract.payload.format == "csv"
    stats = ingest(stack_settings, job).stats
    assert stats.records == 3001
    sinks = read_sinks(stack_settings, job.contract)
    assert sinks.silver.sort("id")["id"].to_list() == list(range(3000))
    assert sinks.silver.select((pl.col("id") == ROW).all()).item()  # row = data row index
    assert sinks.quarantine.select(ROW).to_series().to_list() == [3000]
    # the same command again: nothing new, nothing twice
    again = prepare(stack_settings, str(path), name, memory_limit=600 * 1024 * 1024)
    ingest(stack_settings, again)
    assert read_sinks(stack_settings, job.contract).bronze.height == 3001


def test_truncated_gzip_stops_with_nothing_half_committed(
    stack_settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "cut.csv.gz"
    whole = gzip.compress(_csv(500_000), compresslevel=1)  # 15 MB: damage past the sample
    path.write_bytes(whole[: len(whole) * 3 // 4])
    name = f"gz.cut_{uuid.uuid4().hex[:8]}"
    job = prepare(stack_settings, str(path), name, memory_limit=600 * 1024 * 1024)
    assert job.batch_size < 50_000  # several batches before the damage
    with pytest.raises(InputError, match="not a complete gzip file") as err:
        ingest(stack_settings, job)
    assert str(path) in err.value.message
    sinks = read_sinks(stack_settings, job.contract)
    # whatever was committed is whole batches from the start: rows 0..n-1, once each
    n = sinks.bronze.height
    assert 0 < n < 375_000  # some whole commits before the damage, none after
    assert sorted(sinks.bronze["_seq"].to_list()) == list(range(n))
    assert sinks.silver.height == n and sinks.quarantine.height == 0


def test_json_array_with_a_malformed_element(stack_settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    items = [json.dumps({"id": i, "kind": "k", "at": "2025-01-01T00:00:00Z"}) for i in range(500)]
    items[17] = '{"id": 17, "kind": "k" "at": "2025-01-01T00:00:00Z"}'  # a missing comma
    path.write_text("[\n" + ",\n".join(items) + "\n]\n")
    name = f"json.t_{uuid.uuid4().hex[:8]}"
    job = prepare(stack_settings, str(path), name)
    assert job.contract.payload.format == "json"
    result = ingest(stack_settings, job)
    assert result.stats.records == 500
    sinks = read_sinks(stack_settings, job.contract)
    assert sinks.silver.height == 499
    bad = sinks.quarantine.select(ROW.alias("row"), "_rule_ids").rows()
    assert bad == [(17, ["invalid_json"])]


def test_watch_ingests_a_dropped_gzip_once(stack_settings: Settings, tmp_path: Path) -> None:
    from lakesmith.pipeline.watch import Watcher, load_dataset_map

    folder = tmp_path / "drop"
    folder.mkdir()
    dataset = f"gz.w_{uuid.uuid4().hex[:8]}"
    mapping = tmp_path / "map.yaml"
    mapping.write_text(json.dumps({"datasets": [{"match": "*.csv.gz", "dataset": dataset}]}))
    (folder / "a.csv.gz").write_bytes(gzip.compress(_csv(40)))
    (folder / "b.csv.gz").write_bytes(gzip.compress(_csv(40)))  # the same content
    watcher = Watcher(stack_settings, folder, load_dataset_map(mapping), settle_s=0.0)
    outcomes = {o.path.name: o for o in watcher.run(once=True)}
    assert outcomes["a.csv.gz"].status == "done" and outcomes["a.csv.gz"].records == 40
    assert outcomes["b.csv.gz"].status == "skipped"
