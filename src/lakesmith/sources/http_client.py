"""Requests of the ``http`` source: auth, rate limit, retries, size limit, and pages.

One ``PageClient`` per source. ``fetch(request)`` issues one page request (``PageRequest``:
query parameters, or the full URL a server named) and returns the page: the records as
raw JSON bytes (msgspec slices of the body: bronze keeps what the server sent, byte for
byte) and the request for the next page, or ``None`` at the end.

Retried with exponential back-off and jitter (tenacity): 429, 5xx, timeouts, lost
connections, and bodies that are not JSON or are cut short (a proxy's error page, a reset
connection). ``Retry-After`` (seconds or an HTTP date) is honoured up to
``retry.max_retry_after_s``. After the last attempt — or at once for 4xx answers, a body
over ``max_page_bytes`` or a records path the body lacks — a ``SourceError`` names the
endpoint (never a credential: every message passes through ``redact``).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
from pydantic import SecretStr
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_when_event_set,
)

from lakesmith.core.errors import ServiceUnavailableError, SourceError
from lakesmith.core.logging import get_logger
from lakesmith.core.transient import STOPPING, stop_aware_sleep
from lakesmith.sources.http_body import (
    at_path,
    next_link,
    retry_after_seconds,
    snippet,
    top_keys,
)
from lakesmith.sources.http_spec import ApiKeyAuth, BasicAuth, BearerAuth, HttpSourceSpec

log = get_logger(__name__)
_RAW_LIST = msgspec.json.Decoder(list[msgspec.Raw])
_ANY = msgspec.json.Decoder()
_RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}

# httpx logs every request URL at INFO ("HTTP Request: GET …?api_key=…"): never let it
logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)


@dataclass(frozen=True)
class PageRequest:
    """One page: extra query parameters, or (``url``) a URL the server gave."""

    params: tuple[tuple[str, str], ...] = ()
    url: str | None = None
    number: int = 0  # page number / offset for page and offset pagination

    def state(self) -> dict[str, Any]:
        return {"params": [list(p) for p in self.params], "url": self.url, "n": self.number}

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> PageRequest:
        params = tuple((str(k), str(v)) for k, v in data.get("params", []))
        return cls(params, data.get("url"), int(data.get("n", 0)))


@dataclass(frozen=True)
class Page:
    records: list[bytes]
    next: PageRequest | None
    bytes: int


class _RetryableError(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PageClient:
    """Issues the page requests of one ``HttpSourceSpec``."""

    def __init__(self, spec: HttpSourceSpec) -> None:
        self.spec = spec
        self.endpoint = spec.endpoint()
        self._secrets: dict[str, SecretStr] = spec.auth.secrets() if spec.auth else {}
        hidden = [v for k, v in self._secrets.items() if k != "username"]  # a name is no secret
        self._secret_texts = sorted(
            (s.get_secret_value() for s in hidden if s.get_secret_value()),
            key=len,
            reverse=True,
        )
        headers = {"Accept": "application/json", "User-Agent": "lakesmith", **spec.headers}
        auth: httpx.Auth | None = None
        self._query_auth: tuple[str, str] | None = None
        a = spec.auth
        if isinstance(a, BearerAuth):
            headers["Authorization"] = f"Bearer {self._secrets['token'].get_secret_value()}"
        elif isinstance(a, BasicAuth):
            auth = httpx.BasicAuth(
                self._secrets["username"].get_secret_value(),
                self._secrets["password"].get_secret_value(),
            )
        elif isinstance(a, ApiKeyAuth):
            key = self._secrets["key"].get_secret_value()
            if a.in_ == "header":
                headers[a.name] = key
            else:
                self._query_auth = (a.name, key)
        self._origin = httpx.URL(self.endpoint)
        self._client = httpx.Client(
            headers=headers,
            auth=auth,
            timeout=spec.timeout_s,
            follow_redirects=True,
            event_hooks={"request": [self._same_origin]} if spec.auth else {},
        )
        self._lock = threading.Lock()
        self._last_request = 0.0
        self.requests = 0
        self.retries = 0
        self.waited_s = 0.0  # seconds slept for back-off and Retry-After

    # -- secrets ----------------------------------------------------------------------------

    def redact(self, text: str) -> str:
        """``text`` with every credential replaced by ``***``."""
        for secret in self._secret_texts:
            text = text.replace(secret, "***")
        return text

    def strip_auth(self, url: str) -> str:
        """A URL the server gave, without our API-key parameter (before it is stored)."""
        if self._query_auth is None:
            return url
        parts = httpx.URL(url)
        kept = [(k, v) for k, v in parts.params.multi_items() if k != self._query_auth[0]]
        return str(parts.copy_with(params=httpx.QueryParams(tuple(kept))))

    def _same_origin(self, request: httpx.Request) -> None:
        """Credentials go to the endpoint's host and port only (a next link or a redirect
        elsewhere would hand them to another server); http may be upgraded to https."""
        url, origin = request.url, self._origin
        if (url.host, url.port) != (origin.host, origin.port) or url.scheme not in (
            origin.scheme,
            "https",
        ):
            raise SourceError(
                f"{self.spec.uri}: refusing to send the credentials to "
                f"{url.scheme}://{url.netloc.decode()} (a next link or redirect away from "
                f"{origin.scheme}://{origin.netloc.decode()})",
                hint="the API links to another host: check url (or url_env) in the contract",
            )

    # -- requests ---------------------------------------------------------------------------

    def _throttle(self) -> None:
        rate = self.spec.rate_limit_per_s
        if rate is None:
            return
        with self._lock:
            wait = self._last_request + 1.0 / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last_request = time.monotonic()

    def _wait(self, state: RetryCallState) -> float:
        r = self.spec.retry
        exc = state.outcome.exception() if state.outcome else None
        backoff = min(r.max_backoff_s, r.backoff_s * 2 ** (state.attempt_number - 1))
        backoff *= 0.5 + random.random() / 2  # jitter: 50-100 % of the step
        after = exc.retry_after if isinstance(exc, _RetryableError) else None
        return after if after is not None else backoff

    def _before_sleep(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        self.retries += 1
        self.waited_s += state.upcoming_sleep
        log.warning(
            "http_retry", endpoint=self.redact(self.spec.uri), attempt=state.attempt_number,
            next_in_s=round(state.upcoming_sleep, 2), error=self.redact(str(exc))[:300],
        )  # fmt: skip

    def fetch(self, request: PageRequest, since: str | None) -> Page:
        """The page ``request`` names (the pass's cursor value ``since``), retried."""
        retryer = Retrying(
            retry=retry_if_exception_type(_RetryableError),
            # a stop request (Ctrl-C, SIGTERM: ``core.transient``) cuts the back-off short
            stop=stop_after_attempt(self.spec.retry.attempts) | stop_when_event_set(STOPPING),
            wait=self._wait,
            sleep=stop_aware_sleep,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        try:
            return retryer(self._fetch_once, request, since)
        except SourceError as exc:  # a body may echo what we sent
            raise SourceError(self.redact(exc.message), hint=exc.hint) from None
        except _RetryableError as exc:
            if STOPPING.is_set():
                raise ServiceUnavailableError(
                    f"{self.redact(self.spec.uri)} was failing when the stop came: "
                    f"{self.redact(str(exc))}",
                    hint="nothing is lost: the source resumes from the committed cursor",
                ) from None
            raise SourceError(
                f"{self.redact(self.spec.uri)}: {self.redact(str(exc))} "
                f"(gave up after {self.spec.retry.attempts} attempts)",
                hint="the API is failing or overloaded; run again later (the source resumes "
                "from the cursor committed with the data), or raise retry.attempts",
            ) from None

    def _send(self, request: PageRequest, since: str | None) -> tuple[httpx.Response, bytes]:
        spec = self.spec
        if request.url is not None:
            url = httpx.URL(request.url)
            params = httpx.QueryParams(url.params)
        else:
            url = httpx.URL(self.endpoint)
            params = httpx.QueryParams(list(spec.params.items()))
            if spec.incremental is not None and since is not None:
                params = params.set(spec.incremental.param, since)
            for k, v in request.params:
                params = params.set(k, v)
        if self._query_auth is not None:
            params = params.set(*self._query_auth)
        self._throttle()
        self.requests += 1
        limit = spec.max_page_bytes
        with self._client.stream("GET", url.copy_with(params=params)) as response:
            length = response.headers.get("content-length")
            if length and length.isdigit() and int(length) > limit:
                raise SourceError(
                    f"{spec.uri}: a page of {int(length):,} bytes is over max_page_bytes "
                    f"({limit:,} bytes)",
                    hint="ask for smaller pages (pagination.size) or raise max_page_bytes",
                )
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > limit:
                    raise SourceError(
                        f"{spec.uri}: a page is over max_page_bytes ({limit:,} bytes)",
                        hint="ask for smaller pages (pagination.size) or raise max_page_bytes",
                    )
                chunks.append(chunk)
        return response, b"".join(chunks)

    def _fetch_once(self, request: PageRequest, since: str | None) -> Page:
        spec = self.spec
        try:
            response, body = self._send(request, since)
        except httpx.TimeoutException as exc:
            raise _RetryableError(
                f"timed out after {spec.timeout_s:g} s ({type(exc).__name__})"
            ) from None
        except httpx.TransportError as exc:
            raise _RetryableError(f"request failed: {type(exc).__name__}: {exc}") from None
        status = response.status_code
        if status in _RETRY_STATUS:
            after = retry_after_seconds(response.headers.get("retry-after"))
            if after is not None and after > spec.retry.max_retry_after_s:
                raise SourceError(
                    f"{spec.uri}: HTTP {status} asks to retry after {after:.0f} s, over "
                    f"retry.max_retry_after_s ({spec.retry.max_retry_after_s:g})",
                    hint="run again later, or raise retry.max_retry_after_s",
                )
            raise _RetryableError(f"HTTP {status} {response.reason_phrase}", after)
        if status >= 400:
            raise SourceError(
                f"{spec.uri}: HTTP {status} {response.reason_phrase}: {snippet(body)}",
                hint=_hint(status, spec),
            )
        return self._page(request, response, body)

    def _page(self, request: PageRequest, response: httpx.Response, body: bytes) -> Page:
        spec = self.spec
        kind = response.headers.get("content-type", "?").split(";")[0]
        try:
            found = at_path(body, spec.records_path)
            if found is None:
                raise SourceError(
                    f"{spec.uri}: the body has no records at {spec.records_path!r} "
                    f"(top-level keys: {top_keys(body)})",
                    hint="fix records_path in the contract (a dotted path, '' for a bare list)",
                )
            raws = _RAW_LIST.decode(found)
        except msgspec.ValidationError:
            raise SourceError(
                f"{spec.uri}: the records at {spec.records_path or 'the top level'!r} are "
                f"not a JSON array",
                hint="fix records_path in the contract",
            ) from None
        except msgspec.DecodeError as exc:
            raise _RetryableError(
                f"the body is not JSON ({kind}, {len(body):,} bytes: {exc}): {snippet(body)}"
            ) from None
        except RecursionError:  # hostile nesting ([[[[…): the decoder cannot split it
            raise SourceError(
                f"{spec.uri}: the body is nested too deeply to split into records "
                f"({len(body):,} bytes): {snippet(body)}",
                hint="the API returned something other than a page of records",
            ) from None
        records = [bytes(r) for r in raws]
        return Page(records, self._next(request, response, body, len(records)), len(body))

    def _next(
        self, request: PageRequest, response: httpx.Response, body: bytes, n: int
    ) -> PageRequest | None:
        p = self.spec.pagination
        if p.style == "none" or n == 0:
            return None
        if p.style in ("page", "offset"):
            if p.stop_on_short_page and p.size is not None and n < p.size:
                return None
            if p.style == "page":
                return self.first_request(request.number + 1)
            return self.first_request(request.number + n)
        if p.style == "link":
            target = next_link(response.headers.get("link"))
            if target is None:
                return None
            return PageRequest(url=self.strip_auth(str(response.url.join(target))))
        assert p.next_path is not None
        raw = at_path(body, p.next_path)
        value = _ANY.decode(raw) if raw is not None else None
        if value is None or value == "":
            return None
        if p.style == "cursor":
            return PageRequest(self._sized(((p.cursor_param, str(value)),)))
        return PageRequest(url=self.strip_auth(str(response.url.join(str(value)))))

    def _sized(self, params: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        p = self.spec.pagination
        return (*params, (p.size_name, str(p.size))) if p.size is not None else params

    def first_request(self, number: int | None = None) -> PageRequest:
        """The first page of a pass (or page/offset ``number``)."""
        p = self.spec.pagination
        if p.style == "page":
            n = p.start if number is None else number
            return PageRequest(self._sized(((p.page_param, str(n)),)), number=n)
        if p.style == "offset":
            n = number or 0
            return PageRequest(self._sized(((p.offset_param, str(n)),)), number=n)
        return PageRequest(self._sized(()))

    def close(self) -> None:
        self._client.close()


def _hint(status: int, spec: HttpSourceSpec) -> str:
    if status in (401, 403):
        where = ""
        if spec.auth is not None:
            env = [
                getattr(spec.auth, n)
                for n in ("token_env", "password_env", "key_env")
                if getattr(spec.auth, n, None)
            ]
            where = f" (${', $'.join(env)})" if env else ""
        return f"check the credentials{where} and what they are allowed to read"
    if status == 404:
        return "check url and params in the contract"
    return "the API rejected the request; check params and the API's documentation"
