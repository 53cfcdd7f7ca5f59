"""Services restarting under a running worker: it retries with back-off, logs each retry,
resumes, and the invariants hold; a dependency that stays down makes it exit non-zero
with a clear message after ``worker.retry_for_s``, never a silent hang.

PostgreSQL and the broker are the session stack's own servers, stopped and started again
in place (the broker's ``s3://`` storage keeps its topics across the restart, as a real
Kafka's disks would). The lake-on-S3 case uses a second S3 server of its own, which keeps
its objects across the restart in its data dir."""

from __future__ import annotations

import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition

from lakesmith.config import Settings, load_settings
from lakesmith.contracts import Contract
from lakesmith.core.transient import retrying
from lakesmith.domains.iot.simulator import SimConfig, generate, produce_simulation
from lakesmith.local import LocalStack
from lakesmith.local.process import LocalService
from lakesmith.sources.kafka import consumer_config, kafka_spec
from lakesmith.sources.kafka_offsets import end_offset, first_offsets
from lakesmith.stores.objects import ensure_bucket, s3_client
from lakesmith.testing.pipeline import read_sinks, unique_contract
from lakesmith.testing.stack import free_ports, make_state_dir, worker_env
from lakesmith.testing.workers import WorkerProcess

pytestmark = pytest.mark.integration

TOTAL = 12_000
T = TypeVar("T")


def _produce(settings: Settings, contract: Contract) -> Counter[str]:
    config = SimConfig(
        devices=40, rate=200, duration=TOTAL / 200, bad_ratio=0.02, seed=23,
        topic=kafka_spec(contract.source).topic,
    ).resolved()  # fmt: skip
    expected = Counter(m.expected for m in generate(config))
    produce_simulation(settings, config, progress=False)
    return expected


def _check_exact(settings: Settings, contract: Contract, expected: Counter[str]) -> None:
    sinks = read_sinks(settings, contract)
    assert sinks.bronze.height == sinks.bronze["_record_id"].n_unique() == TOTAL
    assert sinks.silver.height == expected["valid"]
    invalid = sum(n for k, n in expected.items() if k not in ("valid", "duplicate"))
    assert sinks.quarantine.height == invalid
    assert sinks.timeseries is not None and sinks.timeseries.height == sinks.silver.height


def _slow_env(settings: Settings, **extra: str) -> dict[str, str]:
    """Small batches, so the worker is mid-stream when the service goes away."""
    return worker_env(
        settings, LAKESMITH__WORKER__BATCH_SIZE="400", LAKESMITH__WORKER__MAX_WAIT_S="0.3", **extra
    )


def test_postgres_restart_mid_stream(stack_settings: Settings, tmp_path: Path) -> None:
    contract, path = unique_contract(tmp_path)
    expected = _produce(stack_settings, contract)
    postgres = LocalStack(stack_settings, ["postgres"]).service("postgres")
    worker = WorkerProcess(path, _slow_env(stack_settings))
    assert worker.wait_for_batches(3), worker.output()[-2000:]
    try:
        postgres.stop()
        time.sleep(4)  # the worker keeps failing and retrying meanwhile
    finally:
        postgres.start()
    assert worker.proc.wait(240) == 0, worker.output()[-3000:]
    out = worker.output()
    assert '"retrying"' in out and "sink" in out, out[-3000:]
    _check_exact(stack_settings, contract, expected)


def test_a_reassignment_while_postgres_restarts_waits_for_it(
    stack_settings: Settings, tmp_path: Path
) -> None:
    """A rebalance needs the sinks' positions (and silver's recent keys): when PostgreSQL
    is restarting at that moment, the worker's ``resume`` retries until it is back instead
    of failing the worker. (The first resume, at start, fails at once instead: see
    ``test_cli_services_down``.)"""
    from lakesmith.pipeline.worker import Worker

    contract, _ = unique_contract(tmp_path)
    worker = Worker(stack_settings, contract)
    assert worker.resume(["suite://a"]) == {}  # the first assignment, at start
    postgres = LocalStack(stack_settings, ["postgres"]).service("postgres")
    restarter = threading.Timer(3.0, postgres.start)
    try:
        postgres.stop()
        restarter.start()
        started = time.monotonic()
        assert worker.resume(["suite://a"]) == {}  # nothing committed yet, once it answers
        assert time.monotonic() - started >= 2.5  # it waited for PostgreSQL
    finally:
        restarter.join()
        postgres.start()  # no-op when the timer started it
        worker.close()


def test_postgres_down_for_good_exits_non_zero(stack_settings: Settings, tmp_path: Path) -> None:
    contract, path = unique_contract(tmp_path)
    _produce(stack_settings, contract)
    postgres = LocalStack(stack_settings, ["postgres"]).service("postgres")
    worker = WorkerProcess(path, _slow_env(stack_settings, LAKESMITH__WORKER__RETRY_FOR_S="4"))
    assert worker.wait_for_batches(2), worker.output()[-2000:]
    try:
        postgres.stop()
        started = time.monotonic()
        rc = worker.proc.wait(120)
        took = time.monotonic() - started
    finally:
        postgres.start()
    out = worker.output()
    assert rc == 2, out[-3000:]
    assert "kept failing for 4 s" in out and "Traceback" not in out, out[-3000:]
    assert took < 60, took
    # nothing lost: a new worker finishes the job
    again = WorkerProcess(path, worker_env(stack_settings))
    assert again.proc.wait(240) == 0, again.output()[-3000:]
    sinks = read_sinks(stack_settings, contract)
    assert sinks.bronze.height == sinks.bronze["_record_id"].n_unique() == TOTAL


def test_sigterm_while_retrying_stops_promptly(stack_settings: Settings, tmp_path: Path) -> None:
    """SIGTERM during the back-off against a service that is away: the worker stops within
    seconds (exit 130, no traceback), not after ``worker.retry_for_s``; nothing is lost."""
    import signal

    contract, path = unique_contract(tmp_path)
    expected = _produce(stack_settings, contract)
    postgres = LocalStack(stack_settings, ["postgres"]).service("postgres")
    worker = WorkerProcess(path, _slow_env(stack_settings))  # retry_for_s: 300 s
    assert worker.wait_for_batches(2), worker.output()[-2000:]
    try:
        postgres.stop()
        deadline = time.monotonic() + 60
        while '"retrying"' not in worker.output() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert '"retrying"' in worker.output(), worker.output()[-3000:]
        started = time.monotonic()
        worker.proc.send_signal(signal.SIGTERM)
        rc = worker.proc.wait(120)
        took = time.monotonic() - started
    finally:
        postgres.start()
    out = worker.output()
    assert rc == 130, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    assert took < 20, f"stopped after {took:.1f} s"
    again = WorkerProcess(path, worker_env(stack_settings))
    assert again.proc.wait(240) == 0, again.output()[-3000:]
    _check_exact(stack_settings, contract, expected)


def test_broker_restart_mid_stream(stack_settings: Settings, tmp_path: Path) -> None:
    assert stack_settings.local.kafka_storage.startswith("s3://")  # topics survive restarts
    contract, path = unique_contract(tmp_path)
    expected = _produce(stack_settings, contract)
    broker = LocalStack(stack_settings, ["kafka"]).service("kafka")
    worker = WorkerProcess(path, _slow_env(stack_settings))
    assert worker.wait_for_batches(3), worker.output()[-2000:]
    try:
        broker.stop()
        time.sleep(4)
    finally:
        broker.start()
    assert worker.proc.wait(240) == 0, worker.output()[-3000:]
    _check_exact(stack_settings, contract, expected)


@pytest.mark.slow
def test_offset_reads_outlast_broker_restarts(stack_settings: Settings, tmp_path: Path) -> None:
    """What the source asks the broker (first and end offsets), asked without pause while
    the broker restarts three times: librdkafka fails some requests for a moment
    ("Broker handle destroyed without termination", "Unknown partition", transport) and
    every one is retried, none escapes."""
    contract, _ = unique_contract(tmp_path)
    topic = kafka_spec(contract.source).topic
    _produce(stack_settings, contract)
    broker = LocalStack(stack_settings, ["kafka"]).service("kafka")
    consumer = Consumer(consumer_config(stack_settings, f"offsets-{topic}"))
    parts = list(range(kafka_spec(contract.source).partitions))
    zeros = dict.fromkeys(parts, 0)
    failed: list[str] = []  # what librdkafka raised (then retried)
    escaped: list[BaseException] = []
    rounds = [0]
    stop = threading.Event()

    def noted(call: Callable[[], T]) -> T:
        try:
            return call()
        except KafkaException as exc:
            failed.append(exc.args[0].name())
            raise

    def firsts() -> dict[int, int]:
        return first_offsets(consumer, topic, parts)

    def ends() -> list[int]:
        return [end_offset(consumer, TopicPartition(topic, p)) for p in parts]

    def ask() -> None:
        try:
            while not stop.is_set():
                assert retrying(lambda: noted(firsts), "first offsets", 60) == zeros
                retrying(lambda: noted(ends), "end offsets", 60)
                rounds[0] += 1
        except BaseException as exc:
            escaped.append(exc)

    asker = threading.Thread(target=ask, daemon=True)
    asker.start()
    try:
        for outage_s in (1.0, 0.2, 2.0):
            time.sleep(2)
            broker.stop()
            time.sleep(outage_s)
            broker.start()
        done = rounds[0]
        deadline = time.monotonic() + 60
        while rounds[0] < done + 3 and not escaped and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        asker.join(120)
        consumer.close()
    assert not escaped, f"{escaped[0]!r} after retried failures {Counter(failed)}"
    assert rounds[0] >= done + 3, (rounds, Counter(failed))
    print("retried librdkafka failures across 3 broker restarts:", dict(Counter(failed)))


@pytest.fixture
def lake_on_own_s3(stack_settings: Settings) -> Iterator[tuple[Settings, LocalService]]:
    """Settings whose lake lives on a second S3 server (persisted to its data dir), so it
    can go away without taking the session broker's storage with it."""
    state = make_state_dir("lakesmith-s3-outage-")
    (port,) = free_ports(1)
    own = LocalStack(load_settings(state_dir=state, local={"s3_port": port}), ["s3"])
    own.up()
    settings = stack_settings.model_copy(
        update={
            "local": stack_settings.local.model_copy(update={"s3_port": port}),
            "lake": stack_settings.lake.model_copy(
                update={"warehouse": "s3://outage/warehouse", "catalog": "postgres"}
            ),
        }
    )
    ensure_bucket(s3_client(settings), "outage")
    try:
        yield settings, own.service("s3")
    finally:
        own.down()
        shutil.rmtree(state, ignore_errors=True)


def test_s3_briefly_unavailable_under_the_lake(
    lake_on_own_s3: tuple[Settings, LocalService], tmp_path: Path
) -> None:
    settings, s3 = lake_on_own_s3
    contract, path = unique_contract(tmp_path)
    expected = _produce(settings, contract)
    worker = WorkerProcess(path, _slow_env(settings))
    assert worker.wait_for_batches(3), worker.output()[-2000:]
    try:
        s3.stop()  # saves its objects; the worker's lake writes fail meanwhile
        time.sleep(4)
    finally:
        s3.start()
    assert worker.proc.wait(240) == 0, worker.output()[-3000:]
    assert '"retrying"' in worker.output(), worker.output()[-3000:]
    _check_exact(settings, contract, expected)
