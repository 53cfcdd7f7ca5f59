"""Logging through one library (structlog): JSON lines to stderr or a file.

Call ``configure_logging`` once at process start (the CLI does). Every module gets its
logger with ``get_logger(__name__)`` and logs events with structured context::

    log.warning("batch_failed", dataset="iot.telemetry", partition=3, offset=1042)
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any, TextIO

import structlog


def configure_logging(
    level: str = "INFO", *, json: bool = True, stream: TextIO | None = None
) -> None:
    """Route stdlib logging and structlog through one JSON (or console) renderer."""
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def get_logger(name: str) -> Any:
    """A structlog logger bound to ``name`` (``logger`` key in every line)."""
    return structlog.get_logger(name)  # lazy proxy: configuration applies on first use


class RateLimiter:
    """At most one event per key per ``interval_s``; counts what it held back.

    ``allow(key)`` is ``None`` for an event to drop, else the number of events of that
    key dropped since the last one let through (to report with it).
    """

    def __init__(self, interval_s: float = 30.0) -> None:
        self.interval_s = interval_s
        self._last: dict[object, float] = {}
        self._held: dict[object, int] = {}
        self._lock = threading.Lock()

    def allow(self, key: object) -> int | None:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.interval_s:
                self._held[key] = self._held.get(key, 0) + 1
                return None
            self._last[key] = now
            return self._held.pop(key, 0)


class KafkaClientLogger:
    """librdkafka's own log lines as lakesmith log events, rate limited.

    Given to every confluent-kafka client as its ``logger``: without it librdkafka prints
    ``%3|…|FAIL|…`` lines straight to stderr, hundreds a minute while a broker is down.
    Here each (level, facility) — ``FAIL``, ``ERROR``, ``CONNECT``… — is logged as one
    ``kafka_client`` event, then at most once per ``interval_s`` with the count of lines
    held back. confluent-kafka calls ``log(level, "%s [%s] %s", facility, client, text)``.
    """

    def __init__(self, name: str = "lakesmith.kafka.client", interval_s: float = 30.0) -> None:
        self._log = get_logger(name)
        self.limiter = RateLimiter(interval_s)

    def log(self, level: int, msg: str, *args: object, **_: object) -> None:
        if len(args) == 3:
            facility, client, text = (str(a) for a in args)
        else:
            facility, client, text = "", "", msg % args if args else msg
        held = self.limiter.allow((level, facility))
        if held is None:
            return
        fields: dict[str, object] = {"facility": facility, "client": client, "message": text}
        if held:
            fields["suppressed"] = held
        self._log.log(level, "kafka_client", **fields)

    def error(self, error: Any) -> None:
        """An ``error_cb``: a client-wide error (all brokers down, authentication, …)."""
        try:
            name, text, fatal = error.name(), error.str(), error.fatal()
        except AttributeError:  # not a KafkaError
            name, text, fatal = type(error).__name__, str(error), False
        held = self.limiter.allow(("error", name))
        if held is None:
            return
        fields: dict[str, object] = {"code": name, "message": text, "fatal": fatal}
        if held:
            fields["suppressed"] = held
        self._log.warning("kafka_client_error", **fields)


_KAFKA_LOGGER: KafkaClientLogger | None = None


def kafka_client_logger() -> KafkaClientLogger:
    """The process's one ``KafkaClientLogger`` (shared, so many clients still log once)."""
    global _KAFKA_LOGGER
    if _KAFKA_LOGGER is None:
        _KAFKA_LOGGER = KafkaClientLogger()
    return _KAFKA_LOGGER
