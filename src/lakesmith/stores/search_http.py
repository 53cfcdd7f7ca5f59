"""Lean HTTP to Typesense for the two requests where the client's cost shows: the searches
(``MultiSearchHttp``: one ``multi_search`` per query, on the hot path of the API) and the
streamed export of stored embeddings (``export_vectors``: a rebuild reuses them).

Why not the ``typesense`` client here: it sends with httpx, which costs ~1.8 ms of the
API's CPU per ``multi_search`` (URL parsing, request building, its connection pool, JSON
with the standard library); a kept-alive ``http.client`` connection per thread with orjson
costs ~0.6 ms (measured on the same requests, docs/search.md). The other requests
(schema, import, delete, aliases) keep the client."""

from __future__ import annotations

import http.client
import io
import threading
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson
import polars as pl

from lakesmith.config import Settings
from lakesmith.core.errors import SinkError
from lakesmith.search.types import SearchError
from lakesmith.stores.search_schema import stored_vectors

EXPORT_LINES = 5_000  # exported documents parsed at a time (bounded memory)
_RETRY = (http.client.HTTPException, ConnectionError, TimeoutError, OSError)


class MultiSearchHttp:
    """``perform(body, params)``: the answer of ``POST /multi_search`` (a dict), over one
    keep-alive connection per thread (a lost connection is reopened once). A non-200
    answer or an unreachable server is a ``SearchError``."""

    def __init__(self, settings: Settings, timeout_s: float) -> None:
        url = urlsplit(settings.effective_typesense_url())
        self._https = url.scheme == "https"
        self._host = url.hostname or "127.0.0.1"
        self._port = url.port or (443 if self._https else 8108)
        self._prefix = url.path.rstrip("/")
        self._timeout = timeout_s
        self._headers = {
            "X-TYPESENSE-API-KEY": settings.effective_typesense_api_key(),
            "Content-Type": "application/json",
        }
        self._local = threading.local()

    def _connection(self, fresh: bool = False) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None or fresh:
            if conn is not None:
                conn.close()
            kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            conn = kind(self._host, self._port, timeout=self._timeout)
            self._local.conn = conn
        return conn

    def perform(self, body: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        path = f"{self._prefix}/multi_search"
        if params:
            path += "?" + urlencode({k: str(v) for k, v in params.items()})
        data = orjson.dumps(body)
        for attempt in (0, 1):
            conn = self._connection(fresh=attempt == 1)
            try:
                conn.request("POST", path, body=data, headers=self._headers)
                answer = conn.getresponse()
                payload = answer.read()
                break
            except _RETRY as exc:  # a kept-alive connection the server closed, or down
                conn.close()
                self._local.conn = None
                if attempt == 1 or isinstance(exc, TimeoutError):  # a slow server: no retry
                    raise SearchError(f"Typesense is not reachable ({exc})") from None
        if answer.status != 200:
            raise SearchError(f"multi_search answered {answer.status}: {payload[:300]!r}")
        result: dict[str, Any] = orjson.loads(payload)
        return result


def export_vectors(settings: Settings, collection: str, timeout_s: float) -> pl.DataFrame:
    """``id``, ``content_hash`` and ``embedding`` (the stored form: ``stored_vectors``,
    whatever form the collection holds) of every document of ``collection`` that has an
    embedding. Streamed and converted ``EXPORT_LINES`` documents at a time: 100k exported
    float vectors are ~0.5 GB of JSON, their Int16 form 77 MB."""
    import httpx
    import numpy as np

    url = f"{settings.effective_typesense_url().rstrip('/')}/collections/{collection}"
    headers = {"X-TYPESENSE-API-KEY": settings.effective_typesense_api_key()}
    params = {"include_fields": "id,content_hash,embedding"}
    schema: dict[str, Any] = {
        "id": pl.String,
        "content_hash": pl.String,
        "embedding": pl.List(pl.Float64),
    }
    parts: list[pl.DataFrame] = []

    def convert(lines: list[str]) -> None:
        frame = pl.read_ndjson(io.StringIO("\n".join(lines)), schema=schema)
        frame = frame.filter(pl.col("embedding").list.len() > 0)
        if frame.height:
            flat = frame["embedding"].explode().to_numpy().astype(np.float32)
            parts.append(frame.with_columns(stored_vectors(flat.reshape(frame.height, -1))))

    with httpx.stream(
        "GET", f"{url}/documents/export", params=params, headers=headers, timeout=timeout_s
    ) as answer:
        if answer.status_code != 200:
            answer.read()
            raise SinkError(f"export of {collection} failed: {answer.text[:200]}")
        lines: list[str] = []
        for line in answer.iter_lines():
            if line.strip():
                lines.append(line)
            if len(lines) >= EXPORT_LINES:
                convert(lines)
                lines = []
        if lines:
            convert(lines)
    empty = pl.DataFrame(schema={**schema, "embedding": pl.List(pl.Int16)})
    return pl.concat(parts) if parts else empty
