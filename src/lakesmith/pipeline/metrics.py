"""Prometheus metrics of the worker (OPS-3), served on ``--metrics-port`` when given."""

from __future__ import annotations

import errno
import socket

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from lakesmith.core.errors import LakesmithError


class WorkerMetrics:
    def __init__(self, dataset: str, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.dataset = dataset
        self.records = Counter(
            "lakesmith_records_total", "Records processed by disposition", ["dataset", "disposition"],
            registry=self.registry,
        )  # fmt: skip
        self.quarantined = Counter(
            "lakesmith_quarantined_total", "Quarantined records by failing rule", ["dataset", "rule"],
            registry=self.registry,
        )  # fmt: skip
        self.batch_seconds = Histogram(
            "lakesmith_batch_seconds", "Wall time to process and commit one batch", ["dataset"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30), registry=self.registry,
        )  # fmt: skip
        self.records_per_second = Gauge(
            "lakesmith_records_per_second",
            "Throughput of the last batch",
            ["dataset"],
            registry=self.registry,
        )
        self.lag = Gauge(
            "lakesmith_consumer_lag",
            "Records not yet read, per source stream (e.g. a Kafka partition)",
            ["dataset", "stream"],
            registry=self.registry,
        )
        self.quarantine_rate = Gauge(
            "lakesmith_quarantine_rate", "Quarantined / records in the last batch", ["dataset"],
            registry=self.registry,
        )  # fmt: skip

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Serve ``/metrics`` on ``host``:``port`` (a ``LakesmithError`` if it cannot bind)."""
        try:
            start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise LakesmithError(
                    f"port {port} is in use; pick another --metrics-port"
                ) from None
            if exc.errno in (errno.EACCES, errno.EPERM):
                raise LakesmithError(
                    f"port {port} needs privileges to bind; pick another --metrics-port "
                    "(above 1023)"
                ) from None
            if exc.errno == errno.EADDRNOTAVAIL or isinstance(exc, socket.gaierror):
                raise LakesmithError(
                    f"cannot serve metrics on {host!r}: not an address of this machine",
                    hint="set --metrics-host (LAKESMITH__WORKER__METRICS_HOST) to 127.0.0.1 "
                    "or 0.0.0.0",
                ) from None
            raise

    def observe_batch(self, counts: dict[str, int], rules: dict[str, int], seconds: float) -> None:
        d = self.dataset
        total = sum(counts.values())
        for disposition, n in counts.items():
            self.records.labels(d, disposition).inc(n)
        for rule, n in rules.items():
            self.quarantined.labels(d, rule).inc(n)
        self.batch_seconds.labels(d).observe(seconds)
        if seconds > 0:
            self.records_per_second.labels(d).set(total / seconds)
        if total:
            self.quarantine_rate.labels(d).set(counts.get("quarantined", 0) / total)

    def observe_lag(self, lag: dict[str, int]) -> None:
        for stream, n in lag.items():
            self.lag.labels(self.dataset, stream).set(n)
