"""The REST API on the real stack: the auth matrix over every route, health, gold and
mart queries with hostile filters, DQ/pipelines, GraphQL on the same services."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from lakesmith.api.app import create_app
from lakesmith.api.auth import Principal, issue_token, signing_secret
from lakesmith.api.testing import api_settings, bad_basic, basic
from lakesmith.config import Settings

pytestmark = pytest.mark.integration

OPEN = {
    "/healthz",
    "/readyz",
    "/v1/auth/token",
    "/docs",
    "/v1/openapi.json",
    "/docs/oauth2-redirect",
}
WRITER = re.compile(r"^(POST|PUT|PATCH|DELETE) /v1/raw")
ADMIN = re.compile(r"^POST /v1/seed")


@pytest.fixture(scope="module")
def api(stack_settings: Settings) -> Iterator[tuple[TestClient, Settings]]:
    settings = api_settings(stack_settings)
    with TestClient(create_app(settings)) as client:
        from lakesmith.gold.registry import load_model
        from lakesmith.stores.warehouse import Warehouse

        wh = Warehouse(settings, load_model("music"), "music")
        wh.ensure()  # fills the dim_date calendar
        wh.close()
        yield client, settings


def _routes(client: TestClient) -> list[tuple[str, str]]:
    out = [("GET", "/v1/graphql?query=%7B__typename%7D"), ("POST", "/v1/graphql")]
    for path, ops in client.app.openapi()["paths"].items():  # type: ignore[attr-defined]
        if path in OPEN or not path.startswith("/v1"):
            continue
        for m in sorted(ops):
            out.append((m.upper(), re.sub(r"\{[^}]+\}", "x.y", path)))
    return out


def _token(
    settings: Settings, role: str, ttl: int = 600, now: float | None = None
) -> dict[str, str]:
    name = {"reader": "rita", "writer": "walt", "admin": "ada"}[role]
    token = issue_token(signing_secret(settings), Principal(name, role), ttl, now)  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {token}"}


def test_every_route_needs_credentials_and_the_right_role(api: tuple[TestClient, Settings]) -> None:
    client, settings = api
    routes = _routes(client)
    assert len(routes) >= 15
    expired = _token(settings, "admin", ttl=10, now=time.time() - 3600)
    forged = {"Authorization": "Bearer " + _token(settings, "admin")["Authorization"][7:-3] + "abc"}
    for method, path in routes:
        for headers, why in (
            (None, "none"),
            (bad_basic(), "bad password"),
            (expired, "expired"),
            (forged, "forged"),
        ):
            r = client.request(method, path, headers=headers or {}, json={})
            assert r.status_code == 401, (method, path, why, r.text)
            assert "WWW-Authenticate" in r.headers, (method, path, why)
        line = f"{method} {path}"
        for role in ("reader", "writer"):
            for headers in (basic(role), _token(settings, role)):
                r = client.request(method, path, headers=headers, json={})
                needs_more = ADMIN.match(line) or (role == "reader" and WRITER.match(line))
                if needs_more:
                    assert r.status_code == 403, (line, role, r.text)
                else:
                    assert r.status_code not in (401, 403, 500), (line, role, r.status_code, r.text)


def test_token_flow_and_expiry_message(api: tuple[TestClient, Settings]) -> None:
    client, settings = api
    r = client.post("/v1/auth/token", data={"username": "walt", "password": "writer-pw-1"})
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    me = client.get("/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json() == {"name": "walt", "role": "writer"}
    bad = client.post("/v1/auth/token", data={"username": "walt", "password": "nope"})
    assert bad.status_code == 401
    expired = client.get("/v1/auth/me", headers=_token(settings, "reader", 10, time.time() - 99))
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]
    assert 'error="invalid_token"' in expired.headers["WWW-Authenticate"]


def test_health_and_readiness(api: tuple[TestClient, Settings]) -> None:
    client, _ = api
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"postgres": "ok", "typesense": "ok", "migrations": "ok"}


def test_gold_filters_sort_columns_and_pages(api: tuple[TestClient, Settings]) -> None:
    client, _ = api
    h = basic("reader")
    catalog = client.get("/v1/gold", headers=h).json()
    assert "music.dim_date" in catalog["tables"] and "mart_song_daily" in catalog["marts"]
    params = {
        "year": "2024",
        "month__gte": "11",
        "sort": "-date_key",
        "columns": "date_key,month",
        "limit": "20",
    }
    page = client.get("/v1/gold/music.dim_date", params=params, headers=h)
    assert page.status_code == 200, page.text
    body = page.json()
    assert [set(r) for r in body["items"]] == [{"date_key", "month"}] * 20
    assert body["items"][0]["date_key"] == 20241231
    assert all(r["month"] >= 11 for r in body["items"])
    seen = [r["date_key"] for r in body["items"]]
    cursor = body["next_cursor"]
    while cursor:
        nxt = client.get(
            "/v1/gold/music.dim_date", params={**params, "cursor": cursor}, headers=h
        ).json()
        seen += [r["date_key"] for r in nxt["items"]]
        cursor = nxt["next_cursor"]
    assert len(seen) == len(set(seen)) == 61
    assert seen == sorted(seen, reverse=True)
    inlist = client.get(
        "/v1/gold/music.dim_date", params={"date_key__in": "20240101,20240102,1"}, headers=h
    )
    assert len(inlist.json()["items"]) == 2


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"month_name": "x' OR '1'='1"}, 200),  # a value, bound: matches nothing
        ({"month_name__contains": "%' ; DROP TABLE music.dim_date; --"}, 200),
        ({"year": "2024 OR 1=1"}, 422),
        ({"nope": "1"}, 422),
        ({"year__regex": "1"}, 422),
        ({"columns": "date_key,pg_sleep(5)"}, 422),
        ({"sort": "date_key; DROP TABLE x"}, 422),
        ({"cursor": "not-a-cursor"}, 422),
        ({"limit": "100000"}, 422),
        ({"date_key__in": ""}, 422),
    ],
)
def test_gold_hostile_filters(
    api: tuple[TestClient, Settings], params: dict[str, str], status: int
) -> None:
    client, _ = api
    r = client.get("/v1/gold/music.dim_date", params=params, headers=basic("reader"))
    assert r.status_code == status, r.text
    if status == 200:
        assert r.json()["items"] == []
    still = client.get("/v1/gold/music.dim_date", params={"limit": "1"}, headers=basic("reader"))
    assert still.status_code == 200 and still.json()["items"]


def test_unknown_gold_table_and_marts(api: tuple[TestClient, Settings]) -> None:
    client, _ = api
    h = basic("reader")
    assert client.get("/v1/gold/pg_user", headers=h).status_code == 404
    mart = client.get("/v1/marts/mart_song_daily", headers=h)
    assert mart.status_code == 200, mart.text
    assert client.get("/v1/marts/nope", headers=h).status_code == 404


def test_dq_and_pipelines(api: tuple[TestClient, Settings]) -> None:
    client, _ = api
    h = basic("reader")
    dq = client.get("/v1/dq/iot.telemetry", headers=h)
    assert dq.status_code == 200, dq.text
    assert dq.json()["dataset"] == "iot.telemetry"
    assert client.get("/v1/dq/no.such", headers=h).status_code == 404
    names = {p["dataset"] for p in client.get("/v1/pipelines", headers=h).json()}
    assert {"iot.telemetry", "music.events"} <= names


def test_graphql_reads_through_the_same_services(api: tuple[TestClient, Settings]) -> None:
    client, _ = api
    query = """{ gold(table: "music.dim_date", filters: [{column: "year", value: "2024"},
                {column: "month", op: "lte", value: "1"}], sort: "date_key", limit: 3)
                { items nextCursor } }"""
    assert client.post("/v1/graphql", json={"query": query}).status_code == 401
    r = client.post("/v1/graphql", json={"query": query}, headers=basic("reader"))
    assert r.status_code == 200, r.text
    data = r.json()["data"]["gold"]
    assert [row["date_key"] for row in data["items"]] == [20240101, 20240102, 20240103]
    bad = client.post(
        "/v1/graphql",
        json={
            "query": '{ gold(table: "music.dim_date", filters: [{column: "x", value: "1"}]) { items } }'
        },
        headers=basic("reader"),
    )
    assert bad.json()["errors"] and "unknown column" in bad.json()["errors"][0]["message"]


def test_refuses_a_placeholder_secret_outside_the_local_stack(stack_settings: Settings) -> None:
    from pydantic import SecretStr

    from lakesmith.config.api import ApiSettings
    from lakesmith.core.errors import ConfigError

    remote = stack_settings.model_copy(
        update={
            "postgres": stack_settings.postgres.model_copy(
                update={"dsn": SecretStr(stack_settings.effective_postgres_dsn())}
            ),
            "api": ApiSettings(jwt_secret=SecretStr("change-me")),
        }
    )
    with pytest.raises(ConfigError, match="jwt_secret"):
        create_app(remote)
    ok = remote.model_copy(update={"api": ApiSettings(jwt_secret=SecretStr("x" * 40))})
    create_app(ok, prepare=False)


def test_users_added_with_the_cli_can_sign_in(api: tuple[TestClient, Settings]) -> None:
    import base64
    import subprocess
    import sys

    from lakesmith.testing import worker_env

    client, settings = api
    done = subprocess.run(
        [sys.executable, "-m", "lakesmith", "api", "user-add", "tina", "--role", "writer",
         "--password", "tina-pw-1"],
        env=worker_env(settings), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    good = base64.b64encode(b"tina:tina-pw-1").decode()
    me = client.get("/v1/auth/me", headers={"Authorization": f"Basic {good}"})
    assert me.status_code == 200 and me.json() == {"name": "tina", "role": "writer"}
    bad = base64.b64encode(b"tina:nope").decode()
    assert client.get("/v1/auth/me", headers={"Authorization": f"Basic {bad}"}).status_code == 401
    refused = subprocess.run(
        [sys.executable, "-m", "lakesmith", "api", "user-add", "x", "--role", "root",
         "--password", "pw"],
        env=worker_env(settings), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert refused.returncode != 0 and "unknown role" in refused.stderr + refused.stdout
