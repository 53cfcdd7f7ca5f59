"""Raw CRUD through the REST API on the real stack: single and batch writes, versions,
tombstones, and what silver holds after the writes and after ``reprocess --from bronze``
(``silver.versions: latest``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from fastapi.testclient import TestClient
from polyfactory.factories.pydantic_factory import ModelFactory
from pydantic import BaseModel

from lakesmith.api.app import create_app
from lakesmith.api.testing import api_settings, basic
from lakesmith.config import Settings
from lakesmith.contracts.loader import load_contract_file

pytestmark = pytest.mark.integration

DATASET = "api.things"
CONTRACT = f"""
name: {DATASET}
source: {{kind: file, path: /nonexistent/things}}
payload: {{format: json}}
fields:
  - {{name: id, type: string, required: true}}
  - {{name: name, type: string}}
  - {{name: qty, type: long}}
  - {{name: updated_at, type: timestamp, required: true}}
keys: [id]
event_time: updated_at
silver: {{versions: latest}}
rules:
  - {{kind: range, id: qty_not_negative, field: qty, min: 0}}
"""
TS = "2026-01-02T03:04:05Z"


class Thing(BaseModel):
    name: str
    qty: int


class ThingFactory(ModelFactory[Thing]):
    __random_seed__ = 7


@pytest.fixture(scope="module")
def api(stack_settings: Settings) -> Iterator[tuple[TestClient, Settings]]:
    settings = api_settings(stack_settings)
    path = Path(settings.state_dir) / "contracts" / f"{DATASET}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(CONTRACT)
    with TestClient(create_app(settings)) as client:
        yield client, settings


def _thing(i: str, **over: object) -> dict[str, object]:
    body = ThingFactory.build().model_dump()
    body["qty"] = abs(int(body["qty"])) % 100
    return {"id": i, **body, "updated_at": TS, **over}


def _silver(settings: Settings) -> pl.DataFrame:
    from lakesmith.pipeline.dataset import Dataset

    contract = load_contract_file(Path(settings.state_dir) / "contracts" / f"{DATASET}.yaml")
    ds = Dataset(settings, contract)
    try:
        return ds.silver.scan(["id", "name", "qty"]).sort("id")
    finally:
        ds.close()


def test_crud_round_trip_versions_tombstones_and_silver(api: tuple[TestClient, Settings]) -> None:
    client, settings = api
    w, r = basic("writer"), basic("reader")
    base = f"/v1/raw/{DATASET}"
    created = client.post(
        f"{base}/batch",
        json=[{"data": _thing("t1")}, {"data": _thing("t2")}, {"data": _thing("t3")}],
        headers=w,
    )
    assert created.status_code == 201, created.text
    assert created.json()["ids"] == ["t1", "t2", "t3"] and created.json()["valid"] == 3
    one = client.post(base, json={"data": _thing("t4", name="four")}, headers=w)
    assert one.status_code == 201 and one.json()["valid"] == 1
    assert client.post(base, json={"data": _thing("t1")}, headers=w).status_code == 409
    assert client.post(base, json={"id": "zz", "data": _thing("t9")}, headers=w).status_code == 422
    assert client.post(base, json={"data": _thing("t5")}, headers=r).status_code == 403

    listed = client.get(base, headers=r).json()
    assert [x["id"] for x in listed["items"]] == ["t1", "t2", "t3", "t4"]
    assert listed["items"][0]["source"].startswith(f"api://{DATASET}/")

    patched = client.patch(f"{base}/t1", json={"qty": 50}, headers=w)
    assert patched.status_code == 200, patched.text
    put = client.put(f"{base}/t2", json=_thing("t2", name="two", qty=2), headers=w)
    assert put.status_code == 200, put.text
    assert client.put(f"{base}/t2", json=_thing("t3"), headers=w).status_code == 422  # key change
    assert client.delete(f"{base}/t3", headers=w).status_code == 200
    assert client.delete(f"{base}/t3", headers=w).status_code == 404
    assert client.patch(f"{base}/nope", json={"qty": 1}, headers=w).status_code == 404

    current = client.get(f"{base}/t1", headers=r).json()
    assert len(current) == 1 and current[0]["version"] == 2 and current[0]["data"]["qty"] == 50
    assert client.get(f"{base}/t3", headers=r).status_code == 404
    history = client.get(f"{base}/t3", params={"history": "true"}, headers=r).json()
    assert [(v["version"], v["deleted"]) for v in history] == [(1, False), (2, True)]

    many = client.patch(
        base, json=[{"id": "t1", "data": {"qty": 60}}, {"id": "t4", "data": {"qty": -1}}], headers=w
    )
    assert many.status_code == 200, many.text
    assert many.json()["valid"] == 1 and many.json()["quarantined"] == 1  # qty -1 fails a rule
    gone = client.post(f"{base}/delete", json={"ids": ["t2"]}, headers=w)
    assert gone.status_code == 200 and gone.json()["ids"] == ["t2"]

    names = client.get(base, params={"name": "four"}, headers=r).json()["items"]
    assert [x["id"] for x in names] == ["t4"]
    assert client.get(base, params={"bogus": "1"}, headers=r).status_code == 422
    everything = client.get(base, params={"history": "true", "limit": "2"}, headers=r).json()
    assert {x["id"] for x in everything["items"]} == {"t1", "t2"} and everything["next_cursor"]

    # silver holds the newest valid version of each live key (t4's newest is quarantined)
    expected = [("t1", 60), ("t4", current_qty(client, "t4"))]
    assert [(i, q) for i, _, q in _silver(settings).iter_rows()] == expected

    from lakesmith.maintenance.reprocess import reprocess_from_bronze

    contract = load_contract_file(Path(settings.state_dir) / "contracts" / f"{DATASET}.yaml")
    reprocess_from_bronze(settings, contract)
    assert [(i, q) for i, _, q in _silver(settings).iter_rows()] == expected


def current_qty(client: TestClient, record: str) -> int:
    """t4's last *valid* version: its first (the patch to -1 went to quarantine)."""
    versions = client.get(
        f"/v1/raw/{DATASET}/{record}", params={"history": "true"}, headers=basic("reader")
    ).json()
    return int(versions[0]["data"]["qty"])


def test_writes_to_unknown_or_non_json_datasets(api: tuple[TestClient, Settings]) -> None:
    client, settings = api
    w = basic("writer")
    assert client.post("/v1/raw/no.such", json={"data": {}}, headers=w).status_code == 404
    csv = CONTRACT.replace(DATASET, "api.csvthings").replace("format: json", "format: csv")
    path = Path(settings.state_dir) / "contracts" / "api.csvthings.yaml"
    path.write_text(csv)
    refused = client.post("/v1/raw/api.csvthings", json={"data": {"id": "a"}}, headers=w)
    assert refused.status_code == 409 and "JSON datasets only" in refused.json()["detail"]
    assert client.get("/v1/raw/no.such", headers=basic("reader")).status_code == 404
