"""``LocalService.cpu_seconds`` (what the benchmarks print beside the worker's CPU): the
server's own CPU plus its ended children's, so work done by PostgreSQL backends counts
once their connections close; 0 for a service that is not running."""

from __future__ import annotations

import time

import pytest

from lakesmith.config import Settings
from lakesmith.local import LocalStack
from lakesmith.stores.postgres import connect

pytestmark = pytest.mark.integration


def test_postgres_cpu_counts_closed_backends(stack_settings: Settings) -> None:
    service = LocalStack(stack_settings, ["postgres"]).service("postgres")
    before = service.cpu_seconds()
    assert before > 0
    with connect(stack_settings) as conn:  # ~0.2 s of backend CPU
        conn.execute("SELECT count(*) FROM generate_series(1, 3000000)").fetchone()
    deadline = time.monotonic() + 10
    while service.cpu_seconds() - before < 0.05 and time.monotonic() < deadline:
        time.sleep(0.1)  # the postmaster reaps the backend just after the close
    assert service.cpu_seconds() - before >= 0.05


def test_a_stopped_service_has_no_cpu(stack_settings: Settings, tmp_path: object) -> None:
    other = stack_settings.model_copy(update={"state_dir": tmp_path})
    assert LocalStack(other, ["postgres"]).service("postgres").cpu_seconds() == 0.0
