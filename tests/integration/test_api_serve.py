"""``lakesmith serve`` under a real uvicorn on a free port (smoke), and the seed jobs:
202 + Location, polled to an end state, and jobs of a dead server marked interrupted."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid

import httpx
import pytest
from fastapi.testclient import TestClient

from lakesmith.api.app import create_app
from lakesmith.api.auth import hash_password
from lakesmith.api.testing import api_settings, basic
from lakesmith.config import Settings
from lakesmith.testing import free_ports, worker_env
from lakesmith.testing.workers import wait_until_ready

pytestmark = pytest.mark.integration


def test_serve_under_uvicorn(stack_settings: Settings) -> None:
    (port,) = free_ports(1)
    users = {"ada": {"password_hash": hash_password("pw-ada-123"), "role": "admin"}}
    env = worker_env(
        stack_settings, LAKESMITH__API__USERS=json.dumps(users), LAKESMITH__API__PORT=str(port)
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "lakesmith", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(f"{base}/readyz", proc, 60)
        token = httpx.post(
            f"{base}/v1/auth/token", data={"username": "ada", "password": "pw-ada-123"}
        ).json()["access_token"]
        h = {"Authorization": f"Bearer {token}"}
        rows = httpx.get(f"{base}/v1/gold/music.dim_date", params={"limit": 2}, headers=h)
        assert rows.status_code == 200, rows.text
        assert httpx.get(f"{base}/v1/gold/music.dim_date").status_code == 401
        assert httpx.get(f"{base}/v1/openapi.json").json()["info"]["title"] == "lakesmith"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _wait(client: TestClient, location: str, seconds: float) -> dict[str, object]:
    deadline = time.monotonic() + seconds
    while True:
        job: dict[str, object] = client.get(location, headers=basic("reader")).json()
        if job["status"] not in ("queued", "running"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.2)


def seed(settings: Settings, *, seed: int, devices: int, progress: object) -> dict[str, int]:
    """Stands in for the entities seed (the job machinery, not the data, is tested here)."""
    assert callable(progress)
    progress("generate", 0.5)
    if devices == 13:
        raise RuntimeError("unlucky number of devices")
    return {"devices": devices, "seed": seed}


def test_seed_job_request_reply_and_interrupted_jobs(
    stack_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lakesmith.api.services import jobs
    from lakesmith.stores import jobs as store
    from lakesmith.stores.postgres import connect

    monkeypatch.setattr(jobs, "SEED_MODULE", __name__)  # this module's seed()
    settings = api_settings(stack_settings)
    dead = uuid.uuid4().hex
    with connect(settings) as conn:
        store.ensure_jobs_table(conn)
        store.create_job(conn, dead, "seed", "ada", "a-dead-server", {})
        store.update_job(conn, dead, status="running")
    with TestClient(create_app(settings)) as client:
        lost = client.get(f"/v1/jobs/{dead}", headers=basic("reader")).json()
        assert lost["status"] == "interrupted" and "stopped" in lost["error"]
        assert client.post("/v1/seed", json={}, headers=basic("writer")).status_code == 403
        r = client.post("/v1/seed", json={"seed": 3, "devices": 5}, headers=basic("admin"))
        assert r.status_code == 202, r.text
        assert r.headers["Location"] == f"/v1/jobs/{r.json()['id']}"
        job = _wait(client, r.headers["Location"], 30)
        assert job["status"] == "succeeded", job["error"]
        assert job["result"] == {"devices": 5, "seed": 3}
        assert job["progress"] == {"stage": "generate", "fraction": 0.5}
        bad = client.post("/v1/seed", json={"devices": 13}, headers=basic("admin"))
        failed = _wait(client, bad.headers["Location"], 30)
        assert failed["status"] == "failed" and "unlucky" in str(failed["error"])
        assert (
            client.post("/v1/seed", json={"devices": -1}, headers=basic("admin")).status_code == 422
        )
        assert client.get("/v1/jobs/nope", headers=basic("reader")).status_code == 404


@pytest.mark.slow
def test_seed_then_query_the_entities_gold_and_mart(stack_settings: Settings) -> None:
    """The real entities seed through the API, then its star schema and mart."""
    settings = api_settings(stack_settings)
    with TestClient(create_app(settings)) as client:
        r = client.post("/v1/seed", json={"seed": 7, "devices": 8}, headers=basic("admin"))
        assert r.status_code == 202, r.text
        job = _wait(client, r.headers["Location"], 300)
        assert job["status"] == "succeeded", job["error"]
        h = basic("reader")
        devices = client.get(
            "/v1/gold/entities.dim_device", params={"limit": 100}, headers=h
        ).json()["items"]
        assert len(devices) == 8
        site = devices[0]["site_key"]
        same = client.get(
            "/v1/gold/entities.dim_device", params={"site_key": site}, headers=h
        ).json()["items"]
        assert same and all(d["site_key"] == site for d in same)
        mart = client.get("/v1/marts/mart_open_tickets", headers=h)
        assert mart.status_code == 200, mart.text

        # CRUD on a file-ingested dataset, then the gold rebuild carries it
        w = basic("writer")
        first, second = sorted(d["device_id"] for d in devices)[:2]
        listed = client.get("/v1/raw/entities.devices", params={"limit": 100}, headers=h)
        assert {x["id"] for x in listed.json()["items"]} == {d["device_id"] for d in devices}
        patched = client.patch(
            f"/v1/raw/entities.devices/{first}", json={"status": "retired"}, headers=w
        )
        assert patched.status_code == 200 and patched.json()["valid"] == 1, patched.text
        deleted = client.delete(f"/v1/raw/entities.devices/{second}", headers=w)
        assert deleted.status_code == 200 and deleted.json()["valid"] == 1, deleted.text
        history = client.get(
            f"/v1/raw/entities.devices/{second}", params={"history": "true"}, headers=h
        ).json()
        assert history[-1]["deleted"] and history[-1]["data"]["deleted"] is True

        from lakesmith.domains.entities.gold import MODEL
        from lakesmith.gold.batch import rebuild

        rebuild(settings, MODEL)
        after = client.get(
            "/v1/gold/entities.dim_device",
            params={"device_id__in": f"{first},{second}", "columns": "device_id,status"},
            headers=h,
        ).json()["items"]
        assert after == [{"device_id": first, "status": "retired"}]
