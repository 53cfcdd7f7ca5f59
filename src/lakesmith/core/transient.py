"""Which errors mean "a service is briefly away" (retry) rather than "this is wrong" (stop).

The worker retries an operation that failed with a transient error — PostgreSQL restarted,
the broker or the S3 server unreachable for a moment — with exponential back-off and
jitter, logging each retry, and gives up after ``worker.retry_for_s`` with a clear error
(``retrying``). Every sink is idempotent (it re-reads its committed positions inside its
commit), so repeating a write is always safe.

The checks go by class name and module, without importing the libraries: this module is
imported by the worker, which must not pull every storage library in (they are used only
inside ``stores/``), and an error from a library that is not loaded cannot occur anyway.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_delay,
    wait_exponential_jitter,
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
            err = exc.args[0] if exc.args else None
            retriable = getattr(err, "retriable", None)
            return bool(retriable and retriable()) or "transport" in str(err).lower()
    if isinstance(exc, OSError) and exc.errno in _ERRNOS:
        return True
    if isinstance(exc, OSError) or type(exc).__name__ == "DeltaError":
        text = str(exc).lower()
        return any(t in text for t in _TEXTS)
    return False


def retrying(call: Callable[[], T], what: str, budget_s: float, **context: object) -> T:
    """``call()``, retried on transient errors with exponential back-off (0.5 s doubling to
    15 s, with jitter) for up to ``budget_s`` seconds; then a ``ServiceUnavailableError``
    naming ``what`` and the last error. Other errors are raised at once."""

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning(
            "retrying", what=what, attempt=state.attempt_number,
            waited_s=round(state.seconds_since_start or 0.0, 1),
            next_in_s=round(state.upcoming_sleep, 1), error=str(error)[:300], **context,
        )  # fmt: skip

    retryer = Retrying(
        retry=retry_if_exception(transient),
        stop=stop_after_delay(budget_s),
        wait=wait_exponential_jitter(initial=0.5, max=15.0, jitter=0.5),
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        return retryer(call)
    except Exception as exc:
        if not transient(exc):
            raise
        raise ServiceUnavailableError(
            f"{what} kept failing for {budget_s:.0f} s: {str(exc).strip()[:300]}",
            hint="bring the service back and run again (nothing is lost: the worker resumes "
            "from the positions committed with the data); raise "
            "LAKESMITH__WORKER__RETRY_FOR_S to wait longer",
        ) from exc
