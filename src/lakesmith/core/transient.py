"""Which errors mean "a service is briefly away" (retry) rather than "this is wrong" (stop).

The worker retries an operation that failed with a transient error — PostgreSQL restarted,
the broker or the S3 server unreachable for a moment — with exponential back-off and
jitter, logging each retry, and gives up after ``worker.retry_for_s`` with a clear error
(``retrying``). Every sink is idempotent (it re-reads its committed positions inside its
commit), so repeating a write is always safe.

The checks go by class name and module, without importing the libraries: this module is
imported by the worker, which must not pull every storage library in (they are used only
inside ``stores/``), and an error from a library that is not loaded cannot occur anyway.
Kafka errors are told apart by their librdkafka error code (``KafkaError.code()``), not by
their text.
"""

from __future__ import annotations

import errno
import threading
from collections.abc import Callable
from functools import cache
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_delay,
    stop_when_event_set,
    wait_exponential,
    wait_random,
)

from lakesmith.core.errors import ServiceUnavailableError
from lakesmith.core.logging import get_logger

log = get_logger(__name__)
T = TypeVar("T")

_ERRNOS = {
    errno.ECONNREFUSED,
    errno.ECONNRESET,
    errno.ECONNABORTED,
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
    errno.ETIMEDOUT,
    errno.EPIPE,
}
# (module prefix, class name) of errors that mean the server went away or timed out
_CLASSES = {
    ("psycopg", "OperationalError"),  # connection lost, server shutting down, lock timeout
    ("psycopg", "InterfaceError"),  # used a connection the server closed
    ("sqlalchemy", "OperationalError"),  # the Iceberg SQL catalog's database
    ("sqlalchemy", "DisconnectionError"),
    ("botocore", "EndpointConnectionError"),
    ("botocore", "ConnectionClosedError"),
    ("botocore", "ReadTimeoutError"),
    ("botocore", "ConnectTimeoutError"),
    ("urllib3", "ProtocolError"),
}
# words in the message of a generic error (pyarrow's and delta-rs' S3 clients raise
# OSError / DeltaError with the HTTP client's text)
_TEXTS = (
    "connection refused",
    "connection reset",
    "connection closed",
    "error sending request",
    "network_connection",
    "timed out",
    "service unavailable",
    "slow down",
    "server closed the connection",
    "terminating connection",
)
# librdkafka error codes (``KafkaError`` attribute names) that mean a broker is away, was
# replaced, or is moving a partition leader or group coordinator: the request is right, the
# cluster is not ready for it yet. The first three are what offset requests raised across
# restarts of the local broker (Tansu). Not ``_DESTROY`` (our own client is closing), nor
# ``UNKNOWN_TOPIC_OR_PART`` (a deleted topic must stop the worker with its own message).
_KAFKA_CODES = (
    "_DESTROY_BROKER",  # a broker left the metadata (restarting): its handle was replaced
    "_UNKNOWN_PARTITION",  # not in the client's metadata cache until the broker reloads it
    "_TRANSPORT",  # connection to a broker lost
    "_ALL_BROKERS_DOWN",
    "_RESOLVE",  # host name resolution failed
    "_TIMED_OUT",  # no answer in time (request or metadata)
    "_TIMED_OUT_QUEUE",
    "_MSG_TIMED_OUT",  # a produced message not delivered in time: the broker is away
    "_WAIT_COORD",  # the group coordinator is not known yet
    "_NODE_UPDATE",  # a broker's address changed
    "REQUEST_TIMED_OUT",
    "NETWORK_EXCEPTION",  # broker disconnected before answering
    "BROKER_NOT_AVAILABLE",
    "LEADER_NOT_AVAILABLE",
    "NOT_LEADER_FOR_PARTITION",
    "NOT_ENOUGH_REPLICAS",
    "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
    "COORDINATOR_LOAD_IN_PROGRESS",
    "COORDINATOR_NOT_AVAILABLE",
    "NOT_COORDINATOR",
    "KAFKA_STORAGE_ERROR",
    "OFFSET_NOT_AVAILABLE",  # a new leader is catching up
)


def transient(exc: BaseException) -> bool:
    """True when ``exc`` (or what caused it) says a service is unreachable for now."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if _one(cur):
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def _one(exc: BaseException) -> bool:
    if isinstance(exc, ServiceUnavailableError | ConnectionError | TimeoutError):
        return True
    for cls in type(exc).__mro__:
        root = cls.__module__.split(".")[0]
        if (root, cls.__name__) in _CLASSES:
            return True
        # confluent-kafka's C extension names its module "cimpl"
        if root in ("confluent_kafka", "cimpl") and cls.__name__ == "KafkaException":
            return _kafka(exc.args[0] if exc.args else None)
    if isinstance(exc, OSError) and exc.errno in _ERRNOS:
        return True
    if isinstance(exc, OSError) or type(exc).__name__ == "DeltaError":
        text = str(exc).lower()
        return any(t in text for t in _TEXTS)
    return False


def _kafka(err: object) -> bool:
    """A ``KafkaException``'s ``KafkaError``: marked retriable by librdkafka, or one of the
    codes that mean the cluster is briefly unavailable."""
    from confluent_kafka import KafkaError  # loaded: the exception came from it

    if not isinstance(err, KafkaError):
        return False
    return bool(err.retriable()) or err.code() in _kafka_codes()


@cache
def _kafka_codes() -> frozenset[int]:
    from confluent_kafka import KafkaError

    return frozenset(getattr(KafkaError, n) for n in _KAFKA_CODES if hasattr(KafkaError, n))


# Set when the process is asked to stop (SIGTERM, Ctrl-C): a retry in its back-off gives
# up at once instead of holding the stop for up to the whole budget (nothing is lost: what
# was not committed is read again from the committed positions). The worker's loop ends
# when it is set, and clears it when the run ends.
STOPPING = threading.Event()


def stop_after_batch(signum: int, frame: object) -> None:
    """A SIGINT/SIGTERM handler for a worker loop: the first signal sets ``STOPPING``; the
    loop ends after the batch in flight and its commits. A second signal interrupts at
    once (``KeyboardInterrupt``). The loop checks the flag between batches, so the
    interrupt never lands inside a thread pool's or a driver's bookkeeping, which could
    leave a write that is never picked up and a stop that never ends."""
    if STOPPING.is_set():
        raise KeyboardInterrupt
    STOPPING.set()


def stop_aware_sleep(seconds: float) -> None:
    STOPPING.wait(seconds)  # a back-off that a stop request cuts short


def retrying(call: Callable[[], T], what: str, budget_s: float, **context: object) -> T:
    """``call()``, retried on transient errors with exponential back-off (0.5 s doubling to
    15 s, with jitter) for up to ``budget_s`` seconds or until ``STOPPING`` is set; then a
    ``ServiceUnavailableError`` naming ``what`` and the last error. Other errors are
    raised at once."""

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning(
            "retrying", what=what, attempt=state.attempt_number,
            waited_s=round(state.seconds_since_start or 0.0, 1),
            next_in_s=round(state.upcoming_sleep, 1), error=str(error)[:300], **context,
        )  # fmt: skip

    retryer = Retrying(
        retry=retry_if_exception(transient),
        stop=stop_after_delay(budget_s) | stop_when_event_set(STOPPING),
        wait=wait_exponential(multiplier=0.5, max=15.0) + wait_random(0, 0.5),
        sleep=stop_aware_sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        return retryer(call)
    except Exception as exc:
        if not transient(exc):
            raise
        if STOPPING.is_set():
            raise ServiceUnavailableError(
                f"{what} was failing when the stop came: {str(exc).strip()[:300]}",
                hint="nothing is lost: the worker resumes from the committed positions",
            ) from exc
        raise ServiceUnavailableError(
            f"{what} kept failing for {budget_s:.0f} s: {str(exc).strip()[:300]}",
            hint="bring the service back and run again (nothing is lost: the worker resumes "
            "from the positions committed with the data); raise "
            "LAKESMITH__WORKER__RETRY_FOR_S to wait longer",
        ) from exc
