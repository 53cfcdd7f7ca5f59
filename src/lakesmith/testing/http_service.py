"""A local paged JSON API for the ``http`` source's tests and demo (FastAPI on loopback).

``TicketService`` holds a seeded in-memory table of support tickets that tests change
between runs (``insert``, ``update`` and ``insert_bad`` bump ``updated_at``) and serves it
filtered by ``updated_since`` (strictly later), sorted by ``(updated_at, id)``, with every
pagination style on its own route::

    /page/tickets    ?page=1&per_page=10      {"data": [...], "page": 1}
    /offset/tickets  ?offset=0&limit=10       {"results": [...], "total": 42}
    /cursor/tickets  ?cursor=…&limit=10       {"data": {"items": [...]}, "meta": {"next_cursor": …}}
    /next/tickets    ?offset=0&limit=10       {"items": [...], "links": {"next": "http://…"}}
    /link/tickets    ?offset=0&limit=10       [...]  +  Link: <http://…>; rel="next"

``/auth/{bearer|basic|apikey}/<style>/tickets`` is the same behind credentials (API key in
the ``X-Api-Key`` header or the ``api_key`` parameter, which next links echo, as some APIs
do); ``/hostile/{html|truncated|huge|huge_chunked|nopath|notarray|deep|mixed|elsewhere|samepage}`` answer what a broken API answers.
``faults`` injects 429 (with ``Retry-After`` in seconds or as an HTTP date), 500 and slow
answers, by script or every n-th request. ``start()`` runs uvicorn in a thread on a free
port; ``url`` is its base URL.
"""

from __future__ import annotations

import base64
import bisect
import random
import secrets
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import orjson
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import StreamingResponse

from lakesmith.testing.threaded_server import ThreadedServer

STYLES = ("page", "offset", "cursor", "next", "link")
_STATUSES = ("open", "pending", "solved", "closed")


@dataclass
class Faults:
    """What the service does wrong. ``script``: statuses the next requests answer (one
    each, e.g. ``[429, 500]``); ``every``: (n, status) — every n-th request answers status."""

    script: deque[int] = field(default_factory=deque)
    every: tuple[int, int] | None = None
    retry_after: str | None = "1"  # header of 429/503 answers; "date:2" = an HTTP date 2 s ahead
    delay_s: float = 0.0  # every answer waits this long (timeouts)
    broken: bytes | None = None  # answers are 200 with this body (a proxy's error page) …
    broken_after: int = 0  # … once the service answered this many requests

    def retry_after_header(self) -> str | None:
        if self.retry_after is None or not self.retry_after.startswith("date:"):
            return self.retry_after
        when = datetime.now(UTC) + timedelta(seconds=float(self.retry_after[5:]))
        return format_datetime(when, usegmt=True)


class TicketService:
    """The table, its changes, and the app serving it."""

    def __init__(
        self,
        rows: int = 100,
        seed: int = 0,
        token: str | None = None,
        username: str = "etl",
        password: str | None = None,
        api_key: str | None = None,
    ) -> None:
        self.rng = random.Random(seed)
        self.token = token or secrets.token_urlsafe(16)
        self.username = username
        self.password = password or secrets.token_urlsafe(16)
        self.api_key = api_key or secrets.token_urlsafe(16)
        self.faults = Faults()
        self.rows: dict[int, dict[str, Any]] = {}
        self._order: tuple[list[tuple[str, int]], list[dict[str, Any]]] | None = None
        self._clock = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
        self._lock = threading.Lock()
        self.requests = 0
        self.request_times: list[float] = []  # monotonic time of every request
        self.port: int | None = None
        self._runner: ThreadedServer | None = None
        self.insert(rows)
        self.app = self._build()

    # -- the table ----------------------------------------------------------------------------

    def _tick(self) -> str:
        self._clock += timedelta(milliseconds=1)
        return self._clock.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def insert(self, n: int) -> list[int]:
        """``n`` new tickets; their ids."""
        with self._lock:
            self._order = None
            first = max(self.rows, default=0) + 1
            for i in range(first, first + n):
                now = self._tick()
                self.rows[i] = {
                    "id": i,
                    "subject": f"ticket {i}: " + self.rng.choice(["login", "billing", "bug"]),
                    "status": self.rng.choice(_STATUSES),
                    "priority": self.rng.randint(1, 4),
                    "customer": {"name": f"customer {i % 17}", "email": f"c{i % 17}@example.com"},
                    "created_at": now,
                    "updated_at": now,
                }
            return list(range(first, first + n))

    def insert_bad(self, n: int) -> list[int]:
        """``n`` tickets the contract must quarantine (priority "urgent!": not a number)."""
        ids = self.insert(n)
        with self._lock:
            self._order = None
            for i in ids:
                self.rows[i]["priority"] = "urgent!"
        return ids

    def update(self, ids: list[int], status: str = "solved") -> None:
        """Change these tickets (a new ``updated_at`` each)."""
        with self._lock:
            self._order = None
            for i in ids:
                self.rows[i] = {**self.rows[i], "status": status, "updated_at": self._tick()}

    def _ordered(self) -> tuple[list[tuple[str, int]], list[dict[str, Any]]]:
        """Keys ``(updated_at, id)`` and rows in that order (cached until a change)."""
        with self._lock:
            if self._order is None:
                rows = sorted(self.rows.values(), key=lambda r: (r["updated_at"], r["id"]))
                self._order = ([(r["updated_at"], r["id"]) for r in rows], rows)
            return self._order

    def changed_since(self, since: str | None) -> list[dict[str, Any]]:
        keys, rows = self._ordered()
        # every key of a later timestamp sorts after (since, any id)
        return rows[bisect.bisect_right(keys, (since, sys.maxsize)) :] if since else rows

    def _position(self, since: str | None, at: str, last: int) -> int:
        """Index in ``changed_since(since)`` of the first row after the key ``(at, last)``."""
        keys, _ = self._ordered()
        first = bisect.bisect_right(keys, (since, sys.maxsize)) if since else 0
        return max(0, bisect.bisect_right(keys, (at, last)) - first)

    # -- the app ------------------------------------------------------------------------------

    def _fault(self) -> Response | None:
        with self._lock:
            self.requests += 1
            self.request_times.append(time.monotonic())
            f = self.faults
            status = f.script.popleft() if f.script else None
            if status is None and f.every is not None and self.requests % f.every[0] == 0:
                status = f.every[1]
        if f.delay_s:
            time.sleep(f.delay_s)
        if status is None:
            if f.broken is not None and self.requests > f.broken_after:
                return Response(f.broken, 200, media_type="text/html")
            return None
        headers = {}
        if status in (429, 503) and (after := f.retry_after_header()) is not None:
            headers["Retry-After"] = after
        return Response(b'{"error": "injected"}', status, headers, "application/json")

    def _check_auth(self, scheme: str, request: Request) -> None:
        h = request.headers
        if scheme == "bearer":
            ok = h.get("authorization") == f"Bearer {self.token}"
        elif scheme == "basic":
            expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            ok = h.get("authorization") == f"Basic {expected}"
        elif scheme == "apikey":
            ok = self.api_key in (h.get("x-api-key"), request.query_params.get("api_key"))
        else:
            raise HTTPException(404, f"unknown auth scheme {scheme}")
        if not ok:
            raise HTTPException(401, "bad credentials")

    def _serve(self, style: str, request: Request) -> Response:
        if style not in STYLES:
            raise HTTPException(404, f"unknown style {style}")
        q = request.query_params
        rows = self.changed_since(q.get("updated_since"))
        if style == "page":
            size = int(q.get("per_page", "10"))
            page = int(q.get("page", "1"))
            body: Any = {"data": rows[(page - 1) * size : page * size], "page": page}
            return _json(body)
        size = int(q.get("limit", "10"))
        if style == "cursor":
            start = 0
            if token := q.get("cursor"):  # keyset: (updated_at, id) of the last row sent
                at, _, last = base64.urlsafe_b64decode(token).decode().partition("|")
                start = self._position(q.get("updated_since"), at, int(last))
            chunk = rows[start : start + size]
            nxt = None
            if start + size < len(rows) and chunk:
                key = f"{chunk[-1]['updated_at']}|{chunk[-1]['id']}".encode()
                nxt = base64.urlsafe_b64encode(key).decode()
            return _json({"data": {"items": chunk}, "meta": {"next_cursor": nxt}})
        offset = int(q.get("offset", "0"))
        if style == "offset":
            return _json({"results": rows[offset : offset + size], "total": len(rows)})
        chunk = rows[offset : offset + size]
        more = offset + size < len(rows)
        next_url = str(request.url.include_query_params(offset=offset + size)) if more else None
        if style == "next":
            return _json({"items": chunk, "links": {"next": next_url}})
        headers = {"Link": f'<{next_url}>; rel="next"'} if next_url else {}
        return _json(chunk, headers)

    def _build(self) -> FastAPI:
        app = FastAPI(title="lakesmith test tickets API", openapi_url=None)

        @app.get("/{style}/tickets")
        def tickets(style: str, request: Request) -> Response:
            return self._fault() or self._serve(style, request)

        @app.get("/auth/{scheme}/{style}/tickets")
        def secured(scheme: str, style: str, request: Request) -> Response:
            self._check_auth(scheme, request)
            return self._fault() or self._serve(style, request)

        @app.get("/hostile/{kind}")
        def hostile(kind: str, mb: int = 2) -> Response:
            if kind == "html":
                page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
                return Response(page, 200, media_type="text/html")
            if kind == "truncated":
                return Response(b'{"data": [{"id": 1, "subj', 200, media_type="application/json")
            if kind in ("huge", "huge_chunked"):  # with or without a Content-Length
                item = orjson.dumps(self.changed_since(None)[0]) + b","
                body = b'{"data": [' + item * (mb * 1024 * 1024 // len(item)) + b"{}]}"
                if kind == "huge":
                    return Response(body, 200, media_type="application/json")
                blocks = (body[i : i + 65536] for i in range(0, len(body), 65536))
                return StreamingResponse(blocks, 200, media_type="application/json")
            if kind == "nopath":
                return _json({"error": None, "tickets": []})
            if kind == "mixed":  # good records beside ones that are not objects, or too big
                good = self.changed_since(None)[:2]
                huge = {**good[0], "subject": "x" * 20_000}
                return _json({"data": [good[0], 5, "text", None, [1], huge, good[1]]})
            if kind == "elsewhere":  # a next link to another host name (the same server)
                nxt = f"http://localhost:{self.port}/hostile/elsewhere"
                return _json({"data": self.changed_since(None)[:1], "links": {"next": nxt}})
            if kind == "samepage":  # ignores every pagination parameter
                return _json({"data": self.changed_since(None)[:5], "next": "again"})
            if kind == "notarray":
                return _json({"data": {"id": 1}})
            if kind == "deep":  # one record nested 100,000 levels deep
                body = b'{"data": [{"id": 1, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}]}"
                return Response(body, 200, media_type="application/json")
            raise HTTPException(404, f"unknown hostile kind {kind}")

        return app

    # -- running ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the service is not started")
        return f"http://127.0.0.1:{self.port}"

    def start(self, port: int | None = None) -> TicketService:
        self._runner = ThreadedServer(self.app, "tickets-api", port).start(timeout_s=20)
        self.port = self._runner.port
        return self

    def stop(self) -> None:
        if self._runner is not None:
            self._runner.stop()
        self._runner = None

    def __enter__(self) -> TicketService:
        return self.start() if self._runner is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _json(body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), 200, headers, "application/json")
