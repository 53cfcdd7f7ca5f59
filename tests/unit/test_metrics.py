from __future__ import annotations

import urllib.request

from lakesmith.pipeline.metrics import WorkerMetrics
from lakesmith.testing import free_ports


def test_metrics_are_served_over_http() -> None:
    metrics = WorkerMetrics("iot.telemetry")
    metrics.observe_batch(
        {"valid": 90, "quarantined": 8, "duplicate": 2}, {"temperature_range": 8}, 0.5
    )
    metrics.observe_lag({"kafka://t/0": 12, "kafka://t/1": 0})
    (port,) = free_ports(1)
    metrics.serve(port)
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert 'lakesmith_records_total{dataset="iot.telemetry",disposition="valid"} 90.0' in body
    assert (
        'lakesmith_quarantined_total{dataset="iot.telemetry",rule="temperature_range"} 8.0' in body
    )
    assert 'lakesmith_consumer_lag{dataset="iot.telemetry",stream="kafka://t/0"} 12.0' in body
    assert 'lakesmith_quarantine_rate{dataset="iot.telemetry"} 0.08' in body
    assert 'lakesmith_records_per_second{dataset="iot.telemetry"} 200.0' in body
    assert "lakesmith_batch_seconds_bucket" in body


def test_metrics_on_every_interface_and_a_bad_host() -> None:
    import pytest

    from lakesmith.core.errors import LakesmithError

    metrics = WorkerMetrics("iot.telemetry")
    (port,) = free_ports(1)
    metrics.serve(port, "0.0.0.0")  # what a container needs: reachable on its other addresses
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert "# HELP lakesmith_records_total" in body
    (other,) = free_ports(1)
    with pytest.raises(LakesmithError, match="not an address of this machine"):
        metrics.serve(other, "203.0.113.7")  # TEST-NET-3: never local
