"""Which errors the worker retries: Kafka errors by librdkafka's error code, real objects."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.error import ConsumeError

from lakesmith.core.errors import ServiceUnavailableError, SourceError
from lakesmith.core.transient import retrying, transient

# seen while the local broker restarts under a consumer, and their relatives
BROKER_AWAY = [
    KafkaError._DESTROY_BROKER,  # "Broker handle destroyed without termination"
    KafkaError._UNKNOWN_PARTITION,  # the client's metadata cache, until the broker reloads
    KafkaError._TRANSPORT,
    KafkaError._ALL_BROKERS_DOWN,
    KafkaError._TIMED_OUT,
    KafkaError._MSG_TIMED_OUT,
    KafkaError._WAIT_COORD,
    KafkaError.REQUEST_TIMED_OUT,
    KafkaError.NETWORK_EXCEPTION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
]
WRONG = [
    KafkaError._DESTROY,  # our own consumer is closing: retrying cannot help
    KafkaError.UNKNOWN_TOPIC_OR_PART,  # topic deleted: stops with its own message
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.OFFSET_OUT_OF_RANGE,
    KafkaError._INVALID_ARG,
    KafkaError._AUTO_OFFSET_RESET,
]


@pytest.mark.parametrize("code", BROKER_AWAY, ids=lambda c: KafkaError(c).name())
def test_broker_away_codes_are_transient(code: int) -> None:
    assert transient(KafkaException(KafkaError(code)))


@pytest.mark.parametrize("code", WRONG, ids=lambda c: KafkaError(c).name())
def test_other_codes_are_not(code: int) -> None:
    assert not transient(KafkaException(KafkaError(code)))


def test_the_code_decides_not_the_text() -> None:
    says_transport = KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "Broker transport failure")
    assert not transient(KafkaException(says_transport))
    says_nothing = KafkaError(KafkaError._DESTROY_BROKER, "")
    assert transient(KafkaException(says_nothing))


def test_librdkafkas_retriable_flag_is_honoured() -> None:
    err = KafkaError(KafkaError.REBALANCE_IN_PROGRESS, "rebalancing", retriable=True)
    assert transient(KafkaException(err))
    assert not transient(KafkaException(KafkaError(KafkaError.REBALANCE_IN_PROGRESS)))


def test_subclasses_and_causes_are_seen() -> None:
    assert transient(ConsumeError(KafkaError(KafkaError._TRANSPORT)))
    try:
        try:
            raise KafkaException(KafkaError(KafkaError._DESTROY_BROKER))
        except KafkaException as inner:
            raise SourceError("reading offsets failed") from inner
    except SourceError as outer:
        assert transient(outer)
    assert not transient(KafkaException("no KafkaError inside"))


def test_retrying_outlasts_a_decommissioned_broker_and_stops_on_the_rest() -> None:
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise KafkaException(KafkaError(KafkaError._DESTROY_BROKER))
        return "ok"

    assert retrying(flaky, "reading offsets", budget_s=30) == "ok" and len(calls) == 3

    def wrong() -> None:
        calls.append(1)
        raise KafkaException(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED))

    calls.clear()
    with pytest.raises(KafkaException):
        retrying(wrong, "reading offsets", budget_s=30)
    assert len(calls) == 1

    def down() -> None:
        raise KafkaException(KafkaError(KafkaError._ALL_BROKERS_DOWN))

    with pytest.raises(ServiceUnavailableError, match="reading offsets kept failing for 1 s"):
        retrying(down, "reading offsets", budget_s=1)


def test_a_stop_request_cuts_the_back_off_short() -> None:
    import threading
    import time

    from lakesmith.core.transient import STOPPING

    def away() -> None:
        raise ConnectionRefusedError("PostgreSQL is away")

    STOPPING.clear()
    timer = threading.Timer(0.5, STOPPING.set)
    timer.start()
    started = time.monotonic()
    try:
        with pytest.raises(ServiceUnavailableError, match="was failing when the stop came"):
            retrying(away, "writing to the silver sink", budget_s=300)
    finally:
        timer.cancel()
        STOPPING.clear()
    assert time.monotonic() - started < 5


def test_the_first_signal_asks_to_stop_and_the_second_interrupts() -> None:
    import signal

    from lakesmith.core.transient import STOPPING, stop_after_batch

    STOPPING.clear()
    try:
        stop_after_batch(signal.SIGINT, None)  # the loop ends after the batch in flight
        assert STOPPING.is_set()
        with pytest.raises(KeyboardInterrupt):
            stop_after_batch(signal.SIGINT, None)  # asked twice: at once
    finally:
        STOPPING.clear()
