"""One exactly-once suite every sink and lake backend must pass (like Dagster's shared
storage suites): subclass ``SinkSuite``, implement ``backend_settings`` (and ``sink_name``
for a sink other than silver), and pytest runs every test against your backend.

- positions read back after a commit (unknown streams absent), for streams shaped like
  every source kind's (``SOURCE_STREAMS``: a Kafka partition, an object version finished
  with its ``eof`` cursor, an API endpoint or table resumed by a watermark cursor);
- a re-delivered batch is written once, and a partly overlapping one only for its new rows,
  for each source kind's stream shape and cursors;
- rows a sink holds by its commit policy (a lake table at low rates) are not committed
  until due or flushed, then all at once with the merged positions, a re-delivered held
  batch once;
- positions read while a write commits in another thread (a rebalance during the sinks'
  writes) answer the committed positions, before or after, and never fail;
- schema evolution mid-stream (a new field appears; earlier rows read null);
- a worker SIGKILLed right after this sink committed a batch (the other sinks may not
  have), restarted: every sink ends with exactly the records of the input, once.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import orjson
import polars as pl
import pytest

from lakesmith.config import Settings
from lakesmith.contracts.model import Contract
from lakesmith.core.columns import RECORD_ID
from lakesmith.core.positions import Position
from lakesmith.core.records import RawBatch
from lakesmith.pipeline.dataset import Dataset
from lakesmith.pipeline.process import ProcessedBatch, process_batch
from lakesmith.pipeline.sink_base import Sink
from lakesmith.pipeline.sinks import build_sinks
from lakesmith.silver.dedupe import DedupeIndex
from lakesmith.testing.pipeline import read_sinks, unique_contract
from lakesmith.testing.stack import worker_env

NOW = datetime.now(UTC).replace(microsecond=0)


def reading(i: int, pressure: bool = False, bad: bool = False) -> bytes:
    """One IoT telemetry payload (``bad``: a temperature out of range)."""
    rec: dict[str, object] = {
        "device_id": f"dev-{i % 97:04d}",
        "timestamp": (NOW - timedelta(seconds=3600 - i)).isoformat(),
        "temperature": 400.0 if bad else 20.0 + (i % 10),
        "humidity": 50.0,
        "firmware_version": "v1.3.0" if pressure else "v1.2.0",
    }
    if pressure:
        rec["pressure"] = 1000.0 + (i % 7)
    return orjson.dumps(rec)


# One stream per source kind's shape, with the cursor that kind commits after a batch
# (None: by seq only). Stores keep both opaque; the suite checks they come back as sent.
SOURCE_STREAMS: dict[str, tuple[str, str | None]] = {
    "kafka": ("suite://a", None),
    "s3": ("s3://landing/events/2025/01/20/10/events_20250120T1015_0.json.gz#9b2cf535", "eof"),
    "http": ("https://api.example.test/v1/tickets?cursor=updated_at", "2026-01-20T10:15:00Z"),
    "sql": ("postgresql://db.example.test/shop/orders", '["2026-01-20T10:15:00+00:00", 42]'),
}


def raw_batch(stream: str, seqs: range, pressure: bool = False) -> RawBatch:
    raw = RawBatch(source="suite://")
    raw.extend(stream, list(seqs), [reading(i, pressure) for i in seqs])
    return raw


def process_into(dataset: Dataset, raw: RawBatch) -> ProcessedBatch:
    """Process ``raw`` and write it to every sink of ``dataset`` (no source, no worker)."""
    dedupe = DedupeIndex(dataset.contract.keys)
    dataset.prime_dedupe(dedupe)
    batch = process_batch(raw, dataset.contract, NOW, dedupe, dataset.accepted_version())
    dataset.evolve(batch)
    for sink in build_sinks(dataset):
        sink.write(batch)
        sink.flush(force=True)
        sink.close()
    return batch


class SinkSuite:
    """Subclass per backend; see the module docstring. A sink fed by another contract
    (a gold model's) also overrides ``base_contract``, ``payload`` (one record of it),
    ``rows_in`` and ``check_exactly_once``; ``evolves = False`` skips the schema-evolution
    test for sinks whose layout does not follow the contract's fields."""

    sink_name: ClassVar[str] = "silver"
    base_contract: ClassVar[str] = "iot.telemetry"
    evolves: ClassVar[bool] = True

    def payload(self, i: int, pressure: bool = False, bad: bool = False) -> bytes:
        """Record ``i`` of the suite's stream (``bad``: one the contract quarantines)."""
        return reading(i, pressure, bad)

    def raw(self, stream: str, seqs: range, pressure: bool = False) -> RawBatch:
        batch = RawBatch(source="suite://")
        batch.extend(stream, list(seqs), [self.payload(i, pressure) for i in seqs])
        return batch

    @pytest.fixture
    def backend_settings(self, stack_settings: Settings) -> Settings:
        raise NotImplementedError("a backend suite returns its Settings here")

    # -- helpers -------------------------------------------------------------------------

    @pytest.fixture
    def dataset(self, backend_settings: Settings, tmp_path: Path) -> Iterator[Dataset]:
        contract, _ = unique_contract(tmp_path, self.base_contract)
        ds = Dataset(backend_settings, contract).ensure()
        yield ds
        ds.close()

    def sink_of(self, dataset: Dataset) -> Sink:
        sinks = build_sinks(dataset)
        found = [s for s in sinks if s.name == self.sink_name]
        assert found, f"no sink {self.sink_name!r} in {[s.name for s in sinks]}"
        for other in sinks:
            if other is not found[0] and other.name == "dq":
                other.close()  # its own connection; the others share the dataset's tables
        return found[0]

    def rows_in(self, dataset: Dataset) -> pl.DataFrame:
        if self.sink_name == "timeseries":
            assert dataset.timeseries is not None
            return dataset.timeseries.read_all()
        return dataset.lake[self.sink_name].scan()

    @staticmethod
    def commit(sink: Sink, batch: ProcessedBatch) -> int:
        """Write ``batch`` and commit it now, whatever the sink's commit policy."""
        return sink.write(batch) + (sink.flush(force=True) or 0)

    def process(self, dataset: Dataset, raw: RawBatch) -> ProcessedBatch:
        dedupe = DedupeIndex(dataset.contract.keys)
        batch = process_batch(raw, dataset.contract, NOW, dedupe, dataset.accepted_version())
        dataset.evolve(batch)
        return batch

    # -- the suite ---------------------------------------------------------------------------

    def test_positions_read_back_after_commit(self, dataset: Dataset) -> None:
        sink = self.sink_of(dataset)
        raw = self.raw("suite://a", range(0, 100))
        expected = {"suite://a": Position(100)}
        for n, (stream, cursor) in enumerate(SOURCE_STREAMS.values()):
            if stream in expected:
                continue
            start = 7 * n  # a stream need not start at 0 (a resumed one)
            payloads: list[bytes | None] = [self.payload(1000 * (n + 1) + i) for i in range(50)]
            raw.extend(stream, list(range(start, start + 50)), payloads)
            if cursor is not None:
                raw.cursors[stream] = cursor
            expected[stream] = Position(start + 50, cursor)
        batch = self.process(dataset, raw)
        assert self.commit(sink, batch) > 0
        found = sink.positions([*expected, "suite://never"])
        assert found == expected, f"{found} != {expected}"
        again = self.sink_of(Dataset(dataset.settings, dataset.contract))  # a new process
        assert again.positions(expected) == expected

    @pytest.mark.parametrize("kind", sorted(SOURCE_STREAMS))
    def test_redelivered_batch_written_once(self, dataset: Dataset, kind: str) -> None:
        stream, cursor = SOURCE_STREAMS[kind]
        sink = self.sink_of(dataset)

        def raw(seqs: range, cursor: str | None) -> RawBatch:
            batch = self.raw(stream, seqs)
            if cursor is not None:
                batch.cursors[stream] = cursor
            return batch

        first = self.process(dataset, raw(range(0, 100), cursor and f"{cursor}~1"))
        written = self.commit(sink, first)
        assert written == self.rows_in(dataset).height > 0
        assert self.commit(sink, first) == 0  # the same batch again (a replay after a crash)
        overlap = self.process(dataset, raw(range(50, 150), cursor))
        more = self.commit(sink, overlap)
        assert 0 < more < written + 1
        rows = self.rows_in(dataset)
        assert rows.height == written + more
        assert rows[RECORD_ID].n_unique() == rows.height
        assert sink.positions([stream]) == {stream: Position(150, cursor)}

    def test_positions_read_while_a_write_commits(self, dataset: Dataset) -> None:
        """The worker's polling thread reads positions on a rebalance while a sink thread
        writes the previous batch: every read answers with committed positions."""
        sink = self.sink_of(dataset)
        self.commit(sink, self.process(dataset, self.raw("suite://a", range(0, 100))))
        before, after = {"suite://a": Position(100)}, {"suite://a": Position(1600)}
        second = self.process(dataset, self.raw("suite://a", range(100, 1600)))
        errors: list[BaseException] = []

        def write() -> None:
            try:
                self.commit(sink, second)
            except BaseException as exc:  # reported below, in the test's thread
                errors.append(exc)

        writer = threading.Thread(target=write)
        writer.start()
        seen = [sink.positions(["suite://a"])]
        while writer.is_alive():
            seen.append(sink.positions(["suite://a"]))
        writer.join()
        assert not errors, errors
        assert all(s in (before, after) for s in seen), seen
        assert sink.positions(["suite://a"]) == after

    def test_schema_evolution_mid_stream(self, dataset: Dataset) -> None:
        if not self.evolves:
            pytest.skip(f"the {self.sink_name} sink's layout does not follow the contract")
        sink = self.sink_of(dataset)
        v1 = self.process(dataset, self.raw("suite://a", range(0, 40)))
        n1 = self.commit(sink, v1)
        v2 = self.process(dataset, self.raw("suite://a", range(40, 80), pressure=True))
        assert v2.max_version == 2
        n2 = self.commit(sink, v2)
        rows = self.rows_in(dataset)
        assert rows.height == n1 + n2 and n2 > 0
        assert "pressure" in rows.columns
        assert rows.filter(pl.col("pressure").is_not_null()).height == n2
        assert rows.filter(pl.col("pressure").is_null()).height == n1

    def test_held_rows_commit_together_on_flush(self, dataset: Dataset) -> None:
        sink = self.sink_of(dataset)
        a = self.process(dataset, self.raw("suite://a", range(0, 60)))
        b = self.process(dataset, self.raw("suite://a", range(60, 120)))
        written = sink.write(a) + sink.write(b)
        sink.write(a)  # re-delivered (a rebalance seeks back to the committed positions)
        held = int(getattr(sink, "pending_rows", 0))
        if held:  # a sink with a commit policy: nothing is committed yet
            assert written == 0 and sink.positions(["suite://a"]) == {}
            assert sink.flush() is None  # not due yet
            assert sink.flush(force=True) == held == self.rows_in(dataset).height
        else:  # a sink that commits every batch
            assert written == self.rows_in(dataset).height > 0
            assert sink.flush(force=True) is None
        rows = self.rows_in(dataset)
        assert rows[RECORD_ID].n_unique() == rows.height
        assert sink.positions(["suite://a"]) == {"suite://a": Position(120)}
        assert sink.flush(force=True) is None  # nothing held any more

    def test_sigkill_between_sinks_then_restart(
        self, backend_settings: Settings, tmp_path: Path
    ) -> None:
        total, bad = 3000, 150
        data = tmp_path / "readings.jsonl"
        lines = [self.payload(i, pressure=i >= total // 2, bad=i % 20 == 0) for i in range(total)]
        data.write_bytes(b"\n".join(lines) + b"\n")
        contract, path = unique_contract(
            tmp_path,
            self.base_contract,
            source={"kind": "file", "path": str(data)},
            payload={"format": "jsonl", "max_bytes": 4096},
        )
        cmd = [sys.executable, "-m", "lakesmith", "run", str(path), "--until-idle"]
        fault = {"LAKESMITH_FAULT_KILL_AFTER": f"{self.sink_name}:2"}
        killed = subprocess.run(
            cmd,
            env=worker_env(backend_settings, LAKESMITH__WORKER__BATCH_SIZE="500", **fault),
            capture_output=True,
            timeout=300,
        )
        assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
        done = subprocess.run(
            cmd,
            env=worker_env(backend_settings, LAKESMITH__WORKER__BATCH_SIZE="500"),
            capture_output=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr.decode()[-2000:]
        self.check_exactly_once(backend_settings, contract, total, bad)

    def check_exactly_once(
        self, settings: Settings, contract: Contract, total: int, bad: int
    ) -> None:
        sinks = read_sinks(settings, contract)
        assert sinks.bronze.height == sinks.bronze[RECORD_ID].n_unique() == total
        assert sinks.quarantine.height == sinks.quarantine[RECORD_ID].n_unique() == bad
        dupes = sinks.silver.select(contract.keys).is_duplicated().sum()
        assert dupes == 0
        assert sinks.silver.height == sinks.silver[RECORD_ID].n_unique()
        assert sinks.timeseries is not None
        assert sorted(sinks.timeseries[RECORD_ID].to_list()) == sorted(
            sinks.silver[RECORD_ID].to_list()
        )
        from lakesmith.stores.dq import dq_totals
        from lakesmith.stores.postgres import connect

        with connect(settings) as conn:
            totals = dq_totals(conn, contract.name)
        assert totals is not None
        assert (totals[0], totals[2]) == (total, bad)
