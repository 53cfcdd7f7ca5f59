"""The ``http`` source through the real worker and sinks, against the local test API:
every pagination style into bronze and silver, changed records arriving once more, the
cursor surviving restarts, a SIGKILL mid-pagination, and credentials never in the logs,
the errors, the record URIs or the committed positions."""

from __future__ import annotations

import io
import json
import signal
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from lakesmith.config import Settings
from lakesmith.contracts import Contract
from lakesmith.core.errors import SourceError
from lakesmith.core.logging import configure_logging
from lakesmith.pipeline.dataset import Dataset
from lakesmith.pipeline.worker import FAULT_ENV, RunStats, Worker
from lakesmith.testing.files import lakesmith_cmd
from lakesmith.testing.http_service import TicketService
from lakesmith.testing.pipeline import read_sinks, unique_contract
from lakesmith.testing.stack import worker_env

pytestmark = pytest.mark.integration

TOKEN_ENV = "LAKESMITH_TEST_TICKETS_TOKEN"
KEY_ENV = "LAKESMITH_TEST_TICKETS_KEY"
PAGINATION: dict[str, tuple[str, dict[str, Any]]] = {  # route → (records_path, pagination)
    "page": ("data", {"style": "page", "size": 7}),
    "offset": ("results", {"style": "offset", "size": 7}),
    "cursor": (
        "data.items",
        {"style": "cursor", "next_path": "meta.next_cursor", "size": 7, "size_param": "limit"},
    ),
    "next": (
        "items",
        {"style": "next_url", "next_path": "links.next", "size": 7, "size_param": "limit"},
    ),
    "link": ("", {"style": "link", "size": 7, "size_param": "limit"}),
}


@pytest.fixture
def api() -> Iterator[TicketService]:
    with TicketService(rows=40, seed=3) as service:
        yield service


def source(
    api: TicketService, style: str, auth: dict[str, str] | None = None, **extra: Any
) -> dict[str, Any]:
    path, pagination = PAGINATION[style]
    route = f"/auth/{auth['scheme']}/{style}/tickets" if auth else f"/{style}/tickets"
    spec: dict[str, Any] = {
        "kind": "http",
        "url": api.url + route,
        "records_path": path,
        "pagination": pagination,
        "incremental": {"field": "updated_at", "param": "updated_since", "type": "timestamp"},
        "retry": {"attempts": 4, "backoff_s": 0.05, "max_backoff_s": 0.2},
        **extra,
    }
    if auth:
        spec["auth"] = {k: v for k, v in auth.items() if k != "scheme"}
    return spec


def small(settings: Settings, batch_size: int = 1000) -> Settings:
    worker = settings.worker.model_copy(
        update={"batch_size": batch_size, "idle_timeout_s": 0.3, "max_wait_s": 0.5}
    )
    return settings.model_copy(update={"worker": worker})


def drain(settings: Settings, contract: Contract) -> RunStats:
    worker = Worker(settings, contract)
    try:
        return worker.run(until_idle=True)
    finally:
        worker.close()


@pytest.mark.parametrize("style", list(PAGINATION))
def test_every_pagination_style_then_changes_arrive_once_more(
    stack_settings: Settings, tmp_path: Path, api: TicketService, style: str
) -> None:
    settings = small(stack_settings)
    contract, _ = unique_contract(tmp_path, "helpdesk.tickets", source=source(api, style))
    first = drain(settings, contract)
    assert first.by_disposition == {"valid": 40}
    # changes between runs: 5 updated, 6 new, 2 new the contract rejects
    api.update([3, 9, 17, 25, 40])
    api.insert(6)
    bad = api.insert_bad(2)
    second = drain(settings, contract)
    assert second.by_disposition == {"valid": 11, "quarantined": 2}

    sinks = read_sinks(settings, contract)
    assert sinks.bronze.height == sinks.bronze["_seq"].n_unique() == 53  # every version
    now = sinks.silver.sort("ticket_id")  # silver.versions: latest — one row per ticket
    assert now["ticket_id"].to_list() == list(range(1, 47))
    updated = now.filter(pl.col("ticket_id").is_in([3, 9, 17, 25, 40]))
    assert updated["status"].to_list() == ["solved"] * 5  # the update replaced the ticket
    expected = [datetime.fromisoformat(api.rows[i]["updated_at"]) for i in (3, 9, 17, 25, 40)]
    assert updated["updated_at"].to_list() == expected  # … with the API's newest timestamp
    assert sorted(sinks.quarantine["_rule_ids"].list.first().to_list()) == ["priority_type"] * 2
    assert len(bad) == 2
    # flattened per the contract; lineage names the endpoint, the pass's cursor and the seq
    row = sinks.silver.filter(pl.col("ticket_id") == 1).row(0, named=True)
    assert row["customer_email"] == "c1@example.com"
    sources = sinks.bronze.sort("_seq")["_source"]
    assert sources[0] == f"{api.url}/{style}/tickets#0"  # first pass: no cursor yet
    assert sources[-1].startswith(f"{api.url}/{style}/tickets?updated_since=20")
    assert sources[-1].endswith("#52")


@pytest.mark.parametrize("lake", ["iceberg", "delta"])
def test_the_cursor_survives_restarts(
    stack_settings: Settings, tmp_path: Path, api: TicketService, lake: str
) -> None:
    settings = small(stack_settings)
    contract, _ = unique_contract(
        tmp_path, "helpdesk.tickets", source=source(api, "cursor"), lake={"format": lake}
    )
    assert drain(settings, contract).records == 40
    newest = api.changed_since(None)[-1]["updated_at"]
    before = api.requests
    assert drain(settings, contract).records == 0  # a new process: nothing changed since
    assert api.requests == before + 1  # one request, with the committed cursor value
    dataset = Dataset(settings, contract)
    try:
        stream = contract.source.uri
        position = dataset.silver.positions([stream])[stream]
    finally:
        dataset.close()
    assert position.next == 40
    assert position.cursor is not None
    assert json.loads(position.cursor) == {"since": newest, "hi": None, "req": None}
    api.update([1])
    assert drain(settings, contract).by_disposition == {"valid": 1}


@pytest.mark.slow  # two `lakesmith run` processes: ~20 s, more on a busy machine
def test_sigkill_mid_pagination_resumes_without_duplicates_or_gaps(
    stack_settings: Settings, tmp_path: Path
) -> None:
    with TicketService(rows=120, seed=5) as api:
        spec = source(api, "page", max_pages=None)
        spec["pagination"] = {"style": "page", "size": 10}
        contract, path = unique_contract(tmp_path, "helpdesk.tickets", source=spec)
        env = worker_env(stack_settings, LAKESMITH__WORKER__BATCH_SIZE="20")
        cmd = lakesmith_cmd("--log-level", "WARNING", "run", str(path), "--until-idle")
        # killed right after the 3rd silver commit: pages 1-6 committed there, bronze and
        # quarantine may be ahead or behind (the sinks commit concurrently)
        killed = subprocess.run(cmd, env={**env, FAULT_ENV: "silver:3"}, capture_output=True)
        assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
        asked = api.requests
        assert asked < 12  # it died mid-pagination
        last = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert last.returncode == 0, last.stderr[-2000:]
        assert (
            0 < api.requests - asked <= 13 - 4
        )  # resumed at the first page not committed everywhere
    sinks = read_sinks(stack_settings, contract)
    assert sinks.bronze.height == sinks.bronze["_record_id"].n_unique() == 120
    assert sorted(sinks.bronze["_seq"].to_list()) == list(range(120))
    assert sinks.silver.height == 120
    assert sorted(sinks.silver["ticket_id"].to_list()) == list(range(1, 121))


def test_api_key_never_reaches_logs_errors_uris_or_positions(
    stack_settings: Settings, tmp_path: Path, api: TicketService
) -> None:
    """``lakesmith run`` as a subprocess: the key is a query parameter and the server echoes
    it in its next links (the hardest case); retries are logged, everything at DEBUG. (A
    wrong key's error message: tests/unit/test_http_source.py.)"""
    secret = api.api_key
    auth = {
        "scheme": "apikey",
        "type": "api_key",
        "name": "api_key",
        "in": "query",
        "key_env": KEY_ENV,
    }
    contract, path = unique_contract(tmp_path, "helpdesk.tickets", source=source(api, "link", auth))
    env = worker_env(stack_settings, **{KEY_ENV: secret})
    api.faults.script.extend([500, 429])
    api.faults.retry_after = "0"
    cmd = lakesmith_cmd("--log-level", "DEBUG", "run", str(path), "--until-idle")
    ok = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert '"http_retry"' in ok.stderr
    for text in (ok.stdout, ok.stderr):
        assert secret not in text
    sinks = read_sinks(stack_settings, contract)
    assert sinks.bronze.height == 40
    assert not sinks.bronze["_source"].str.contains(secret, literal=True).any()
    dataset = Dataset(stack_settings, contract)
    try:
        for table in (dataset.bronze, dataset.silver, dataset.quarantine):
            assert secret not in json.dumps(table.properties())
            assert secret not in str(table.positions([contract.source.uri]))
    finally:
        dataset.close()


@pytest.mark.parametrize("scheme", ["bearer", "basic"])
def test_header_credentials_never_reach_the_logs(
    stack_settings: Settings,
    tmp_path: Path,
    api: TicketService,
    scheme: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = api.token if scheme == "bearer" else api.password
    auth = {"scheme": scheme, "type": scheme}
    auth |= (
        {"token_env": TOKEN_ENV}
        if scheme == "bearer"
        else {"username": api.username, "password_env": TOKEN_ENV}
    )
    contract, _ = unique_contract(tmp_path, "helpdesk.tickets", source=source(api, "cursor", auth))
    buf = io.StringIO()
    configure_logging("DEBUG", stream=buf)
    try:
        monkeypatch.setenv(TOKEN_ENV, secret)
        api.faults.script.extend([503])
        api.faults.retry_after = "0"
        assert drain(small(stack_settings), contract).records == 40
        monkeypatch.setenv(TOKEN_ENV, secret + "x")
        with pytest.raises(SourceError, match=r"HTTP 401") as err:
            drain(small(stack_settings), contract)
    finally:
        configure_logging("WARNING")
    assert '"http_retry"' in buf.getvalue()
    assert secret not in buf.getvalue() and secret not in str(err.value)


def test_a_broken_page_stops_the_run_and_the_next_run_goes_on(
    stack_settings: Settings, tmp_path: Path, api: TicketService
) -> None:
    """A proxy's HTML error page after a few good pages: the run stops with one clear
    error after its retries, what came before is committed, and the next run continues."""
    settings = small(stack_settings, batch_size=7)
    contract, _ = unique_contract(tmp_path, "helpdesk.tickets", source=source(api, "page"))
    api.faults.broken = b"<html><h1>502 Bad Gateway</h1></html>"
    api.faults.broken_after = api.requests + 2  # pages 1-2 are fine
    worker = Worker(settings, contract)
    try:
        with pytest.raises(SourceError, match=r"the body is not JSON \(text/html, .*502 Bad"):
            worker.run(until_idle=True)
    finally:
        worker.close()
        api.faults.broken = None
    sinks = read_sinks(settings, contract)
    assert sinks.bronze.height == 14  # pages 1-2
    assert drain(settings, contract).records == 26
    sinks = read_sinks(settings, contract)
    assert sorted(sinks.silver["ticket_id"].to_list()) == list(range(1, 41))
    assert sinks.bronze["_seq"].n_unique() == 40


def test_scheduled_extract_jobs_read_only_the_changes(
    stack_settings: Settings, tmp_path: Path, api: TicketService
) -> None:
    """The scheduler's ``extract`` job kind (what ``lakesmith schedule`` runs on its cron)
    on an http dataset: each run is one pass from the committed cursor."""
    from lakesmith.config.schedule import JobSpec
    from lakesmith.schedule.kinds import extract

    _, path = unique_contract(tmp_path, "helpdesk.tickets", source=source(api, "cursor"))
    job = JobSpec(name="tickets", cron="*/5 * * * *", kind="extract", dataset=str(path))
    settings = small(stack_settings)
    assert extract(settings, job) == 40
    api.update([2, 4])
    api.insert(1)
    assert extract(settings, job) == 3
    assert extract(settings, job) == 0
