"""The ``http`` source without the sinks: its contract section, retries (429 with
``Retry-After`` honoured, 5xx, timeouts), rate limit, hostile bodies, ``max_pages`` and
resuming mid-pass, against the local test API on loopback."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from lakesmith.config import load_settings
from lakesmith.contracts import Contract
from lakesmith.core.errors import ConfigError, ContractError, SourceError
from lakesmith.core.logging import configure_logging
from lakesmith.core.positions import Position, Positions
from lakesmith.sources.base import SourceContext
from lakesmith.sources.http import HttpSource, greatest
from lakesmith.sources.http_body import next_link, retry_after_seconds
from lakesmith.sources.http_client import PageClient
from lakesmith.sources.http_spec import HttpSourceSpec, IncrementalSpec
from lakesmith.testing.http_service import TicketService
from lakesmith.testing.pipeline import unique_contract

INC = {"field": "updated_at", "param": "updated_since", "type": "timestamp"}
FAST_RETRY = {"attempts": 3, "backoff_s": 0.01, "max_backoff_s": 0.05}


@pytest.fixture(scope="module")
def api() -> Iterator[TicketService]:
    with TicketService(rows=25, seed=1) as service:
        yield service


@pytest.fixture(autouse=True)
def _no_faults(api: TicketService) -> None:
    api.faults.script.clear()
    api.faults.every = None
    api.faults.delay_s = 0.0
    api.faults.retry_after = "1"


def spec(url: str = "https://example.com/tickets", **extra: Any) -> HttpSourceSpec:
    data: dict[str, Any] = {
        "kind": "http",
        "url": url,
        "records_path": "data",
        "pagination": {"style": "page", "size": 10},
        "retry": FAST_RETRY,
        **extra,
    }
    return HttpSourceSpec.model_validate(data)


def fetch_all(client: PageClient) -> list[bytes]:
    records: list[bytes] = []
    request = client.first_request()
    while True:
        page = client.fetch(request, None)
        records += page.records
        if page.next is None:
            return records
        request = page.next


# -- the contract section ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"params": {"api_key": "abc"}}, "looks like a credential"),
        ({"headers": {"Authorization": "Bearer x"}}, "looks like a credential"),
        ({"url": "https://u:p@example.com/x"}, "must not hold credentials"),
        ({"url": "https://example.com/x?page=2"}, "not in url"),
        ({"url": "ftp://example.com/x"}, "http"),
        ({"pagination": {"style": "cursor"}}, "needs next_path"),
        ({"auth": {"type": "bearer", "token": "inline"}}, "token_env"),
    ],
)
def test_contract_section_rejects_mistakes_in_one_line(
    change: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        spec(**{"url": "https://example.com/tickets", **change})


def test_a_missing_secret_names_the_variable_not_a_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = spec("https://example.com/t", auth={"type": "bearer", "token_env": "NO_SUCH_TOKEN_VAR"})
    with pytest.raises(ConfigError, match=r"\$NO_SUCH_TOKEN_VAR, which is not set"):
        PageClient(s)


def test_url_env_moves_the_host_but_not_the_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    s = spec("https://api.example.com/v2/tickets", url_env="TICKETS_URL", params={"q": "a b"})
    monkeypatch.setenv("TICKETS_URL", "http://127.0.0.1:9999/")
    assert s.endpoint() == "http://127.0.0.1:9999/v2/tickets"
    assert s.uri == "https://api.example.com/v2/tickets?q=a+b"


def test_retry_after_in_seconds_or_as_an_http_date() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert retry_after_seconds("7", now) == 7.0
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30
    assert retry_after_seconds(format_datetime(now - timedelta(hours=1), usegmt=True), now) == 0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None


def test_link_header_next() -> None:
    assert next_link('<https://a/x?page=1>; rel="prev", <https://a/x?page=3>; rel="next"') == (
        "https://a/x?page=3"
    )
    assert next_link("</x?c=a,b>; rel=next") == "/x?c=a,b"
    assert next_link('<https://a/y>; rel="last next"') == "https://a/y"
    assert next_link('<https://a/x>; rel="prev", <https://a/z>; rel="nextish"') is None
    assert next_link("") is None and next_link(None) is None


def test_greatest_cursor_value_by_type() -> None:
    records = [
        b'{"t": "2026-01-01T10:00:00+02:00", "n": 9}',
        b'{"t": "2026-01-01T09:00:00Z", "n": 10}',  # later, in UTC
        b'{"n": "x"}',
        b"[1, 2]",
    ]
    as_ts = IncrementalSpec(field="t", param="since", type="timestamp")
    assert greatest(records, as_ts) == "2026-01-01T09:00:00Z"
    as_text = IncrementalSpec(field="t", param="since", type="string")
    assert greatest(records, as_text) == "2026-01-01T10:00:00+02:00"
    assert greatest(records, IncrementalSpec(field="n", param="s", type="integer")) == "10"
    assert greatest([], as_ts) is None
    # all objects: the fast path (msgspec keeps the one field), nested paths included
    nested = [b'{"m": {"at": 5}}', b'{"m": {"at": 12}}', b'{"m": null}', b'{"x": 1}', b"null"]
    assert greatest(nested, IncrementalSpec(field="m.at", param="s", type="integer")) == "12"
    assert greatest(records[:2], as_ts) == "2026-01-01T09:00:00Z"
    assert greatest([b'{"other": 1}'], as_ts) is None


# -- retries -------------------------------------------------------------------------------


@pytest.mark.parametrize("retry_after", ["1", "date:2"])
def test_429_waits_as_long_as_retry_after_says(api: TicketService, retry_after: str) -> None:
    client = PageClient(spec(api.url + "/page/tickets", retry={**FAST_RETRY, "attempts": 2}))
    api.faults.retry_after = retry_after
    api.faults.script.append(429)
    before = len(api.request_times)
    page = client.fetch(client.first_request(), None)
    assert len(page.records) == 10
    first, second = api.request_times[before : before + 2]
    # the back-off alone would be 0.01 s; an HTTP date has whole seconds (1-2 s ahead)
    assert 0.95 <= second - first < 3.0
    assert client.retries == 1


def test_5xx_and_timeouts_are_retried_then_a_clear_error(api: TicketService) -> None:
    client = PageClient(spec(api.url + "/page/tickets"))
    api.faults.script.extend([500, 503, 502])
    with pytest.raises(SourceError, match=r"HTTP 502 Bad Gateway \(gave up after 3 attempts\)"):
        client.fetch(client.first_request(), None)
    api.faults.script.extend([500, 500])
    assert len(client.fetch(client.first_request(), None).records) == 10
    slow = PageClient(spec(api.url + "/page/tickets", timeout_s=0.1))
    api.faults.delay_s = 0.3
    with pytest.raises(SourceError, match=r"timed out after 0.1 s"):
        slow.fetch(slow.first_request(), None)


def test_a_stop_request_cuts_the_back_off_short(api: TicketService) -> None:
    """Ctrl-C / SIGTERM while an API is failing: the worker stops within moments, not after
    the retry schedule, with an error that says nothing is lost."""
    import threading

    from lakesmith.core.errors import ServiceUnavailableError
    from lakesmith.core.transient import STOPPING

    slow = {**FAST_RETRY, "attempts": 5, "backoff_s": 30.0, "max_backoff_s": 30.0}
    client = PageClient(spec(api.url + "/page/tickets", retry=slow))
    api.faults.script.extend([503] * 5)
    timer = threading.Timer(0.3, STOPPING.set)
    timer.start()
    started = time.monotonic()
    try:
        with pytest.raises(ServiceUnavailableError, match="was failing when the stop came"):
            client.fetch(client.first_request(), None)
    finally:
        timer.cancel()
        STOPPING.clear()
        api.faults.script.clear()
    assert time.monotonic() - started < 5


def test_a_retry_after_beyond_the_limit_is_an_error_not_a_wait(api: TicketService) -> None:
    limited = {**FAST_RETRY, "max_retry_after_s": 5}
    client = PageClient(spec(api.url + "/page/tickets", retry=limited))
    api.faults.retry_after = "3600"
    api.faults.script.append(429)
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"retry after 3600 s, over retry.max_retry_after_s"):
        client.fetch(client.first_request(), None)
    assert time.monotonic() - started < 1


def test_every_nth_500_costs_retries_not_records(api: TicketService) -> None:
    api.faults.every = (3, 500)
    client = PageClient(spec(api.url + "/page/tickets", retry={**FAST_RETRY, "attempts": 4}))
    records = fetch_all(client)
    assert len(records) == 25
    assert client.retries >= 1


def test_rate_limit_spaces_the_requests(api: TicketService) -> None:
    client = PageClient(
        spec(
            api.url + "/page/tickets", rate_limit_per_s=20, pagination={"style": "page", "size": 3}
        )
    )
    before = len(api.request_times)
    assert len(fetch_all(client)) == 25  # 9 requests
    times = api.request_times[before:]
    assert len(times) == 9
    assert times[-1] - times[0] >= 8 / 20 * 0.95


# -- hostile bodies ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("html", r"the body is not JSON \(text/html, .*502 Bad Gateway"),
        ("truncated", r"the body is not JSON \(application/json, 25 bytes"),
        ("huge", r"a page of 2,097,\d+ bytes is over max_page_bytes \(1,048,576 bytes\)"),
        ("huge_chunked", r"a page is over max_page_bytes \(1,048,576 bytes\)"),
        ("nopath", r"no records at 'data' \(top-level keys: error, tickets\)"),
        ("notarray", r"the records at 'data' are not a JSON array"),
        ("deep", r"the body is nested too deeply to split into records \(200,0\d\d bytes\)"),
    ],
)
def test_hostile_bodies_give_one_clear_error(api: TicketService, kind: str, message: str) -> None:
    client = PageClient(spec(api.url + f"/hostile/{kind}", max_page_bytes=1024 * 1024))
    with pytest.raises(SourceError, match=message) as err:
        client.fetch(client.first_request(), None)
    assert len(str(err.value).splitlines()) <= 2
    assert err.value.hint


def test_credentials_are_not_sent_to_another_host(
    api: TicketService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T_TOKEN", "s3cr3t-token-value")
    pagination = {"style": "next_url", "next_path": "links.next"}
    auth = {"type": "bearer", "token_env": "T_TOKEN"}
    client = PageClient(spec(api.url + "/hostile/elsewhere", pagination=pagination, auth=auth))
    page = client.fetch(client.first_request(), None)
    assert page.next is not None and page.next.url is not None
    assert page.next.url.startswith("http://localhost:")
    before = api.requests
    with pytest.raises(SourceError, match=r"refusing to send the credentials to http://localhost"):
        client.fetch(page.next, None)
    assert api.requests == before  # nothing was sent
    open_client = PageClient(spec(api.url + "/hostile/elsewhere", pagination=pagination))
    assert len(open_client.fetch(page.next, None).records) == 1  # no credentials: followed


def test_bad_records_in_a_good_page_go_to_quarantine_with_a_reason(
    api: TicketService, tmp_path: Path
) -> None:
    from lakesmith.pipeline.process import process_batch
    from lakesmith.silver.dedupe import DedupeIndex

    source = {"kind": "http", "url": api.url + "/hostile/mixed", "records_path": "data"}
    contract, _ = unique_contract(tmp_path, "helpdesk.tickets", source=source)
    batch = open_source(contract, {}).poll(100, 5.0)
    assert len(batch) == 7
    assert batch.payloads[1:5] == [b"5", b'"text"', b"null", b"[1]"]  # as the server sent them
    done = process_batch(batch, contract, datetime.now(UTC), DedupeIndex(contract.keys))
    assert done.silver["ticket_id"].to_list() == [1, 2]
    rules = done.quarantine.sort("_seq")["_rule_ids"].list.first().to_list()
    assert rules == ["not_an_object"] * 4 + ["payload_too_large"]


def test_secrets_stay_out_of_errors_and_logs(
    api: TicketService, monkeypatch: pytest.MonkeyPatch
) -> None:
    buf = io.StringIO()
    configure_logging("DEBUG", stream=buf)
    try:
        monkeypatch.setenv("T_KEY", api.api_key)
        auth = {"type": "api_key", "name": "api_key", "in": "query", "key_env": "T_KEY"}
        good = PageClient(
            spec(api.url + "/auth/apikey/link/tickets", auth=auth, records_path="",
                 pagination={"style": "link", "size": 10, "size_param": "limit"}),
        )  # fmt: skip
        api.faults.script.extend([500])
        request = good.first_request()
        page = good.fetch(request, None)
        assert page.next is not None and page.next.url is not None
        assert "api_key" not in page.next.url  # the echoed key is not kept in the cursor
        assert len(good.fetch(page.next, None).records) == 10  # … and sent again from env
        monkeypatch.setenv("T_KEY", api.api_key[:-1])  # a wrong key: 401
        bad = PageClient(spec(api.url + "/auth/apikey/page/tickets", auth=auth))
        with pytest.raises(
            SourceError, match=r"HTTP 401.*\n  fix: check the credentials \(\$T_KEY\)"
        ):
            bad.fetch(bad.first_request(), None)
    finally:
        configure_logging("WARNING")
    logged = buf.getvalue()
    assert '"http_retry"' in logged
    assert api.api_key not in logged and api.api_key[:-1] not in logged


# -- the source: passes, max_pages, resuming -----------------------------------------------


def open_source(contract: Contract, start: Positions) -> HttpSource:
    def resume(streams: Sequence[str]) -> Positions:
        return {s: start[s] for s in streams if s in start}

    settings = load_settings(state_dir=Path("/tmp"))
    return HttpSource(SourceContext(settings, contract, "g", resume))


def test_max_pages_pauses_and_a_new_run_resumes_mid_pass(
    api: TicketService, tmp_path: Path
) -> None:
    source = {
        "kind": "http", "url": api.url + "/offset/tickets", "records_path": "results",
        "pagination": {"style": "offset", "size": 4}, "incremental": INC, "max_pages": 3,
    }  # fmt: skip
    contract, _ = unique_contract(tmp_path, "helpdesk.tickets", source=source)
    first = open_source(contract, {})
    batch = first.poll(5, 5.0)  # two pages (whole pages only)
    assert batch.seq_column().to_list() == list(range(8))
    assert not first.drained()
    batch2 = first.poll(100, 5.0)  # the 3rd page, then max_pages pauses the pass
    assert batch2.seq_column().to_list() == list(range(8, 12))
    assert first.drained()
    assert len(first.poll(100, 0.01)) == 0  # paused until poll_interval_s
    position = batch2.next_positions()[contract.source.uri]
    state = json.loads(position.cursor or "")
    assert state["since"] is None and state["req"]["n"] == 12
    # a crash lost batch2: the next run starts from batch1's position
    again = open_source(contract, batch.next_positions())
    rest: list[int] = []
    while not again.drained():
        rest += again.poll(100, 5.0).seq_column().to_list()
    assert rest == list(range(8, 20))  # pages 3-5 (max_pages again), same seqs as before
    last = open_source(contract, {contract.source.uri: Position(20, again._cursor())})
    tail = last.poll(100, 5.0)
    assert tail.seq_column().to_list() == list(range(20, 25)) and last.drained()
    after = json.loads(tail.cursors[contract.source.uri])
    assert after["req"] is None and after["since"] == api.changed_since(None)[-1]["updated_at"]
    assert tail.uri_sep == "#"  # the first pass had no cursor value to send


def test_unknown_kind_section_is_a_contract_error(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="pagination"):
        unique_contract(
            tmp_path, "helpdesk.tickets",
            source={"kind": "http", "url": "https://x.example/t", "pagination": {"style": "pages"}},
        )  # fmt: skip


def test_a_cursor_field_no_record_has_is_reported(api: TicketService, tmp_path: Path) -> None:
    source = {
        "kind": "http", "url": api.url + "/page/tickets", "records_path": "data",
        "pagination": {"style": "page", "size": 10}, "incremental": {**INC, "field": "nope"},
    }  # fmt: skip
    contract, _ = unique_contract(tmp_path, "helpdesk.tickets", source=source)
    buf = io.StringIO()
    configure_logging("INFO", stream=buf)
    try:
        http = open_source(contract, {})
        assert len(http.poll(1000, 5.0)) == 25 and http.drained()
    finally:
        configure_logging("WARNING")
    assert '"http_cursor_field_missing"' in buf.getvalue()
    assert http.since is None  # the next pass reads everything again


def test_the_section_survives_a_dump_and_reload() -> None:
    auth = {"type": "api_key", "name": "key", "in": "query", "key_env": "K"}
    s = spec(auth=auth, incremental=INC)
    dumped = s.model_dump(mode="json")
    assert dumped["auth"]["in"] == "query"
    assert HttpSourceSpec.model_validate(dumped) == s


@pytest.mark.parametrize(
    ("pagination", "ignored"),
    [
        ({"style": "page", "size": 5}, "ignore page"),
        ({"style": "offset", "size": 5}, "ignore offset"),
        ({"style": "cursor", "next_path": "next"}, "ignore cursor"),  # the same token again
    ],
)
def test_a_pagination_that_never_ends_is_an_error(
    api: TicketService, tmp_path: Path, pagination: dict[str, Any], ignored: str
) -> None:
    source = {
        "kind": "http", "url": api.url + "/hostile/samepage", "records_path": "data",
        "pagination": pagination,
    }  # fmt: skip
    contract, _ = unique_contract(tmp_path, "helpdesk.tickets", source=source)
    with pytest.raises(SourceError, match="the API answered the same page again") as err:
        open_source(contract, {}).poll(1000, 5.0)
    assert ignored in str(err.value)
