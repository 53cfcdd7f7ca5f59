"""The entities generator: deterministic bytes, the shape of every file, device ids that
join the IoT telemetry, references that resolve, PDFs that parse (no services)."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import polars as pl
import pytest

from lakesmith.domains.entities.generator import EntitiesConfig, device_ids, make_fleet
from lakesmith.domains.entities.seed import generate
from lakesmith.domains.iot.simulator import SimConfig
from lakesmith.domains.iot.simulator import generate as iot_generate
from lakesmith.formats.pdf import parse_pdf

CFG = EntitiesConfig(seed=3, devices=120, models=12, reports=5)


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fleet")
    generate(CFG, folder)
    return folder


def test_same_seed_same_bytes(out: Path, tmp_path: Path) -> None:
    generate(CFG, tmp_path)
    assert _digests(tmp_path) == _digests(out)
    other = EntitiesConfig(seed=4, devices=120, models=12, reports=5)
    generate(other, tmp_path / "other")
    assert _digests(tmp_path / "other")["devices.json"] != _digests(out)["devices.json"]


def test_files_and_shapes(out: Path) -> None:
    devices = pl.DataFrame(json.loads((out / "devices.json").read_text()))
    models = pl.read_csv(out / "models.csv")
    sites = pl.read_csv(out / "sites.csv")
    firmware = pl.DataFrame(json.loads((out / "firmware_releases.json").read_text()))
    tickets = pl.read_csv(out / "maintenance_log.csv")
    assert devices.height == 120 and models.height == 12 and sites.height == CFG.n_sites
    assert devices["device_id"].n_unique() == 120 and models["model"].n_unique() == 12
    assert set(devices["model"]) <= set(models["model"])
    assert set(devices["site"]) <= set(sites["site"])
    assert set(tickets["device_id"]) <= set(devices["device_id"])
    assert set(firmware["model"]) == set(models["model"])
    assert tickets.height == 180 and tickets["ticket"].n_unique() == 180
    assert tickets["closed"].null_count() > 0  # some tickets are open
    closed = tickets.drop_nulls("closed")
    assert (closed["closed"] >= closed["opened"]).all()  # ISO text sorts as time
    assert tickets["description"].str.len_chars().min() > 40  # prose, not codes
    assert devices["tags"].list.len().min() >= 1
    pdfs = sorted(p.name for p in (out / "pdf").glob("*.pdf"))
    assert len([p for p in pdfs if p.startswith("datasheet_")]) == 12
    assert len([p for p in pdfs if p.startswith("report_")]) == 5


def test_device_ids_are_the_iot_simulators() -> None:
    iot = {
        m.key.decode()
        for m in iot_generate(SimConfig(devices=30, rate=30, duration=2, seed=1))
        if m.key
    }
    assert iot <= set(device_ids(30))
    assert device_ids(3) == ["sensor-0000", "sensor-0001", "sensor-0002"]


def test_pdfs_parse_with_pages_and_keywords(out: Path) -> None:
    sheet = parse_pdf(next((out / "pdf").glob("datasheet_*.pdf")).read_bytes())
    assert sheet.pages == 3 and sheet.keywords["doc_type"] == "datasheet"
    assert "Specifications" in sheet.page_texts[1] and "Installation" in sheet.page_texts[2]
    report = parse_pdf(next((out / "pdf").glob("report_*.pdf")).read_bytes())
    assert report.pages == 3
    assert report.keywords["doc_type"] in ("maintenance_report", "inspection_report")
    assert report.keywords["device_id"] in report.page_texts[0]
    assert "Measurements" in report.page_texts[1]


def test_large_fleet_structured_data_is_fast() -> None:
    t0 = time.monotonic()
    fleet = make_fleet(EntitiesConfig(seed=1, devices=100_000, reports=0))
    assert time.monotonic() - t0 < 60  # ~2 s alone; generous: the CI machine is shared
    assert fleet.devices.height == 100_000 and fleet.maintenance.height == 150_000
    assert fleet.devices["device_id"][-1] == "sensor-99999"
    assert fleet.sites.height == 1_000
