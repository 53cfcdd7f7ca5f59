"""librdkafka's logging goes through lakesmith's logger, rate limited per facility."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator

import pytest
import structlog
from confluent_kafka import Producer

from lakesmith.config import load_settings
from lakesmith.core.errors import ServiceUnavailableError
from lakesmith.core.logging import KafkaClientLogger, RateLimiter, configure_logging
from lakesmith.sources.kafka import check_reachable, producer_config
from lakesmith.testing import free_ports


def test_rate_limiter_lets_one_through_per_interval_and_counts_the_rest() -> None:
    limiter = RateLimiter(interval_s=0.2)
    assert limiter.allow("FAIL") == 0
    assert [limiter.allow("FAIL") for _ in range(5)] == [None] * 5
    assert limiter.allow("ERROR") == 0  # another key has its own budget
    time.sleep(0.25)
    assert limiter.allow("FAIL") == 5  # the next one reports what was held back


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level, config = root.handlers[:], root.level, structlog.get_config()
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.configure(**config)


def _events(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]


def test_librdkafka_lines_become_few_structured_events(
    tmp_path: object, capfd: pytest.CaptureFixture[str]
) -> None:
    stream = io.StringIO()
    configure_logging("DEBUG", stream=stream)
    (port,) = free_ports(1)
    settings = load_settings(state_dir=tmp_path, local={"kafka_port": port})
    klog = KafkaClientLogger(interval_s=60)
    config = producer_config(
        settings, logger=klog, error_cb=klog.error, **{"reconnect.backoff.ms": 10}
    )
    producer = Producer(config)
    producer.produce("t", b"x")
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        producer.poll(0.1)
    producer.purge()
    events = _events(stream)
    fails = [e for e in events if e["event"] == "kafka_client" and e["facility"] == "FAIL"]
    errors = [e for e in events if e["event"] == "kafka_client_error"]
    assert len(fails) == 1 and "Connection refused" in str(fails[0]["message"])
    assert len(errors) <= 2  # e.g. _TRANSPORT and _ALL_BROKERS_DOWN, once each
    assert "%3|" not in capfd.readouterr().err  # nothing printed by librdkafka itself


def test_closed_port_is_reported_at_once(tmp_path: object) -> None:
    (port,) = free_ports(1)
    settings = load_settings(state_dir=tmp_path, local={"kafka_port": port})
    t0 = time.monotonic()
    with pytest.raises(ServiceUnavailableError, match="Connection refused") as err:
        check_reachable(settings)
    assert time.monotonic() - t0 < 1.0
    assert "lakesmith local up kafka" in (err.value.hint or "")
