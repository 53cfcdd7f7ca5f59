"""The end of ``lakesmith demo entities``: the search index brought in step with gold, then
the REST API started on a free loopback port and used over HTTP as a client would — a
token, a hybrid search, a gold query, a mart and an async seed job — each printed with the
``curl`` command that does the same against ``lakesmith serve``."""

from __future__ import annotations

import time
from typing import Any

import httpx
from rich.console import Console

from lakesmith.config import Settings
from lakesmith.testing.threaded_server import ThreadedServer

DEMO_USER, DEMO_PASSWORD = "demo", "demo-password"  # local stack only; printed for curl


def index_search(settings: Settings, console: Console) -> None:
    """``lakesmith search index``: devices and PDF pages from the entities gold tables."""
    from lakesmith.search.sources import index_entities

    for r in index_entities(settings):
        console.print(
            f"  {r.collection}: {r.documents:,} documents, {r.upserted:,} upserted, "
            f"{r.deleted:,} deleted, {r.embedded:,} embedded in {r.embed_s:.1f}s",
            highlight=False,
        )


def running_api(settings: Settings) -> ThreadedServer:
    """The API (``api.app.create_app``) served from a thread on a free loopback port."""
    from lakesmith.api.app import create_app

    return ThreadedServer(create_app(settings), "demo-api")


def _add_demo_user(settings: Settings) -> None:
    from lakesmith.api.auth import hash_password
    from lakesmith.stores.postgres import connect
    from lakesmith.stores.users import upsert_user

    with connect(settings) as conn:
        upsert_user(conn, DEMO_USER, hash_password(DEMO_PASSWORD), "admin")


def _rows(body: dict[str, Any], columns: list[str]) -> str:
    rows = body.get("rows") or body.get("items") or []
    return "\n".join("    " + "  ".join(str(r.get(c, ""))[:32] for c in columns) for r in rows[:5])


def show_api(settings: Settings, console: Console) -> None:
    """Use the running API over HTTP and print what a user would type and see."""
    _add_demo_user(settings)
    auth = f"-u {DEMO_USER}:{DEMO_PASSWORD}"
    with running_api(settings) as server, httpx.Client(base_url=server.url, timeout=60) as http:
        url = server.url
        console.print(f"  API at {url} (docs: {url}/docs); `lakesmith serve` runs it on :8000")
        token = http.post(
            "/v1/auth/token", data={"username": DEMO_USER, "password": DEMO_PASSWORD}
        ).raise_for_status()
        bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
        console.print(f"[dim]$ curl -X POST {url}/v1/auth/token -d username=demo -d password=…[/]")
        console.print("  bearer token issued (HTTP Basic works too)")

        query = "vibration sensor datasheet"
        console.print(
            f"[dim]$ curl {auth} '{url}/v1/search?q={query.replace(' ', '+')}&mode=hybrid'[/]"
        )
        found = http.get("/v1/search", params={"q": query, "mode": "hybrid"}, headers=bearer)
        hits = found.raise_for_status().json().get("hits", [])
        for hit in hits[:5]:
            keys = [k for k, v in hit.items() if k.endswith("_key") and v is not None]
            page_no = f" p.{hit['page']}" if hit.get("page") else ""
            console.print(
                f"    {hit.get('collection')}: {str(hit.get('title'))[:48]}{page_no}"
                f"  (keys: {', '.join(keys)})",
                highlight=False,
            )

        path = "/v1/gold/entities.dim_device?status=active&sort=-install_date&limit=5"
        console.print(f"[dim]$ curl {auth} '{url}{path}'[/]")
        page = http.get(path, headers=bearer).raise_for_status().json()
        console.print(_rows(page, ["device_id", "model", "site", "install_date"]), highlight=False)

        path = "/v1/marts/mart_open_tickets?sort=-open_tickets&limit=5"
        console.print(f"[dim]$ curl {auth} '{url}{path}'[/]")
        page = http.get(path, headers=bearer).raise_for_status().json()
        rows = page.get("rows") or page.get("items") or []
        shown = [c for c in (rows[0] if rows else {}) if not c.endswith("_key")][:5]
        console.print(_rows(page, shown) or "    (no open tickets)", highlight=False)

        console.print(f"[dim]$ curl -i {auth} -X POST {url}/v1/seed -d '{{\"devices\": 200}}'[/]")
        job = http.post("/v1/seed", json={"devices": 200}, headers=bearer).raise_for_status()
        location = job.headers["location"]
        console.print(f"  {job.status_code} Accepted, Location: {location}")
        status: dict[str, Any] = job.json()
        deadline = time.monotonic() + 300
        while status.get("status") in {"queued", "running"} and time.monotonic() < deadline:
            time.sleep(0.5)
            status = http.get(location, headers=bearer).raise_for_status().json()
        console.print(f"  job {status.get('id')}: {status.get('status')}", highlight=False)
