"""The entity domain end to end on the real stack: seed → bronze keeps every input raw
(the PDF bytes, with the extracted text, page count and hash beside them), silver is typed, bad rows and hostile PDFs are quarantined with reasons,
gold is in the lake AND the warehouse with the same counts, every fact key exists in its
dimension, the mart answers a hand-checked question, a second seed adds nothing, and the
real datasheets ingest through the same path."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl
import pytest

from lakesmith.config import Settings
from lakesmith.contracts import load_contract
from lakesmith.domains.entities.generator import EntitiesConfig
from lakesmith.domains.entities.gold import MODEL
from lakesmith.domains.entities.queries import answer
from lakesmith.domains.entities.seed import (
    _MARKER,
    SeedReport,
    _signature,
    generate,
    ingest_dataset,
    seed,
)
from lakesmith.pipeline.dataset import Dataset
from lakesmith.stores.lake import open_table
from lakesmith.stores.postgres import connect

pytestmark = pytest.mark.integration

SEED, DEVICES, REPORTS = 11, 60, 4
BAD_TICKETS = (
    'MT-900001,sensor-0001,2024-02-01T10:00:00Z,,teleportation,low,A. Okafor,"bad category",'
    "2024-02-01T10:00:00Z,false\n"
    "MT-900002,sensor-0002,not-a-date,,battery,low,A. Okafor,bad opened,2024-02-01T10:00:00Z,false\n"
)


@pytest.fixture(scope="module")
def seeded(
    stack_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Settings, SeedReport]:
    """Seed into a lake of this module's own (the warehouse schema is ``entities``)."""
    tmp = tmp_path_factory.mktemp("entities")
    lake = stack_settings.lake.model_copy(
        update={"warehouse": str(tmp / "lake"), "catalog_uri": f"sqlite:///{tmp}/catalog.db"}
    )
    s = stack_settings.model_copy(update={"lake": lake})
    out = tmp / "files"
    cfg = EntitiesConfig(seed=SEED, devices=DEVICES, reports=REPORTS)
    generate(cfg, out)  # then spoil a few inputs, which seed() reuses
    with (out / "maintenance_log.csv").open("a") as f:
        f.write(BAD_TICKETS)
    (out / "pdf" / "not_really.pdf").write_bytes(b"PK\x03\x04 a zip file named .pdf")
    sheet = next((out / "pdf").glob("datasheet_*.pdf")).read_bytes()
    (out / "pdf" / "truncated.pdf").write_bytes(sheet[: len(sheet) // 2])
    (out / _MARKER).write_text(_signature(cfg))
    report = seed(s, seed=SEED, devices=DEVICES, reports=REPORTS, out_dir=out)
    assert not report.generated
    return s, report


def _dataset(s: Settings, name: str) -> Dataset:
    return Dataset(s, load_contract(name))


def _gold(s: Settings, table: str) -> pl.DataFrame:
    return open_table(s, s.lake.format, "entities", table).scan()


def _warehouse(s: Settings, sql: str) -> list[tuple[object, ...]]:
    with connect(s) as conn:
        return conn.execute(sql).fetchall()  # type: ignore[arg-type]


def test_bronze_keeps_pdf_bytes_silver_has_text_pages_hash(
    seeded: tuple[Settings, SeedReport],
) -> None:
    s, report = seeded
    ds = _dataset(s, "entities.documents")
    try:
        bronze = ds.bronze.scan(["_payload", "_source", "sha256", "pages", "text"])
        silver = ds.silver.scan()
    finally:
        ds.close()
    assert bronze.height == 20 + REPORTS + 2  # every file, hostile ones included
    hashes = {hashlib.sha256(p).hexdigest() for p in bronze["_payload"]}
    assert set(silver["sha256"]) <= hashes
    # bronze keeps the extracted hash, page count and text beside the bytes (equal to
    # silver's; null for the two hostile files, which are in quarantine)
    decoded = bronze.filter(pl.col("sha256").is_not_null())
    assert decoded.height == silver.height
    assert decoded["sha256"].to_list() == [
        hashlib.sha256(p).hexdigest() for p in decoded["_payload"]
    ]
    assert (
        decoded.select("sha256", "pages", "text")
        .sort("sha256")
        .equals(silver.select("sha256", "pages", "text").sort("sha256"))
    )
    assert silver.height == 20 + REPORTS
    assert silver["pages"].dtype == pl.Int64 and silver["pages"].min() == 3
    sheet = silver.filter(pl.col("doc_type") == "datasheet").row(0, named=True)
    assert "Specifications" in sheet["text"].split("\f")[1]
    assert sheet["file_name"] == f"datasheet_{sheet['model']}.pdf"
    assert report.ingested["entities.documents"].get("quarantined") == 2


def test_bad_rows_and_hostile_pdfs_are_quarantined_with_reasons(
    seeded: tuple[Settings, SeedReport],
) -> None:
    s, report = seeded
    rules: dict[str, set[str]] = {}
    for name in ("entities.maintenance", "entities.documents"):
        ds = _dataset(s, name)
        try:
            q = ds.quarantine.scan(["_rule_ids", "_source"])
        finally:
            ds.close()
        rules[name] = {r for ids in q["_rule_ids"] for r in ids}
    assert {"category_known", "opened_type"} <= rules["entities.maintenance"]
    assert {"not_a_pdf", "pdf_unreadable"} <= rules["entities.documents"]
    assert report.ingested["entities.maintenance"]["quarantined"] == 2


def test_silver_is_typed(seeded: tuple[Settings, SeedReport]) -> None:
    s, _ = seeded
    ds = _dataset(s, "entities.maintenance")
    try:
        tickets = ds.silver.scan()
    finally:
        ds.close()
    assert tickets.schema["opened"] == pl.Datetime("us", "UTC")
    assert tickets["closed"].null_count() > 0
    assert tickets.height == round(DEVICES * 1.5)
    dev = _dataset(s, "entities.devices")
    try:
        devices = dev.silver.scan()
    finally:
        dev.close()
    assert devices.schema["deleted"] == pl.Boolean
    assert devices.height == DEVICES


def test_gold_in_lake_and_warehouse_with_the_same_counts(
    seeded: tuple[Settings, SeedReport],
) -> None:
    s, report = seeded
    assert report.gold is not None
    for table in MODEL.tables:
        lake = _gold(s, table.name).height
        [(pg,)] = _warehouse(s, f"SELECT count(*) FROM entities.{table.name}")
        assert lake == pg, table.name
        if not table.static and table.name != "fact_device_day":
            assert lake == report.gold.rows[table.name] > 0, table.name
    assert report.gold.rows["dim_device"] == DEVICES
    assert report.gold.rows["dim_document"] == 20 + REPORTS


def test_every_fact_key_exists_in_its_dimension(seeded: tuple[Settings, SeedReport]) -> None:
    s, _ = seeded
    dims = {
        "device_key": _gold(s, "dim_device"),
        "model_key": _gold(s, "dim_model"),
        "site_key": _gold(s, "dim_site"),
        "manufacturer_key": _gold(s, "dim_manufacturer"),
    }
    dates = set(_gold(s, "dim_date")["date_key"])
    for fact in ("fact_maintenance", "dim_device", "dim_document"):
        rows = _gold(s, fact)
        for key, dim in dims.items():
            if key in rows.columns and key != f"{fact.removeprefix('dim_')}_key":
                found = set(rows[key].drop_nulls())
                assert found <= set(dim[key]), (fact, key)
    tickets = _gold(s, "fact_maintenance")
    assert tickets["device_key"].null_count() == 0 and tickets["site_key"].null_count() == 0
    assert set(tickets["opened_date_key"]) <= dates
    assert set(tickets["closed_date_key"].drop_nulls()) <= dates
    reports = _gold(s, "dim_document").filter(pl.col("doc_type") != "datasheet")
    assert reports["device_key"].null_count() == 0


def test_mart_open_tickets_answers_a_hand_checked_question(
    seeded: tuple[Settings, SeedReport],
) -> None:
    s, report = seeded
    out = report.out_dir
    devices = pl.DataFrame(json.loads((out / "devices.json").read_text()))
    tickets = pl.read_csv(out / "maintenance_log.csv").filter(
        ~pl.col("ticket").str.starts_with("MT-9")
    )
    expected = (
        tickets.filter(pl.col("closed").is_null())
        .join(devices.select("device_id", "site", "model"), on="device_id")
        .group_by("site", "model")
        .len()
        .sort("site", "model")
    )
    rows = _warehouse(
        s, "SELECT site, model, open_tickets FROM entities.mart_open_tickets ORDER BY site, model"
    )
    assert rows == [tuple(r) for r in expected.rows()]
    top = answer(s, "open_tickets")
    assert top["open_tickets"][0] == expected["len"].max()


def test_seeding_again_adds_nothing(seeded: tuple[Settings, SeedReport]) -> None:
    s, first = seeded
    again = seed(s, seed=SEED, devices=DEVICES, reports=REPORTS, out_dir=first.out_dir)
    assert not again.generated
    assert all(sum(c.values()) == 0 for c in again.ingested.values()), again.ingested
    assert again.gold is not None and first.gold is not None
    assert again.gold.rows == first.gold.rows
    assert again.indexed == first.indexed  # the same documents, none added


def test_seed_brings_the_search_index_in_step(seeded: tuple[Settings, SeedReport]) -> None:
    from lakesmith.search.types import SearchQuery
    from lakesmith.stores.search import SearchRepository

    s, report = seeded
    devices = sum(n for c, n in report.indexed.items() if c.startswith("devices"))
    assert devices == _gold(s, "dim_device").height > 0
    assert any(c.startswith("documents") and n > 0 for c, n in report.indexed.items())
    device = _gold(s, "dim_device").row(0, named=True)
    hits = SearchRepository(s).search(SearchQuery(q=device["device_id"], mode="keyword")).hits
    assert device["device_key"] in [h.device_key for h in hits]


def test_real_datasheets_ingest_through_the_same_path(
    seeded: tuple[Settings, SeedReport], external_data: Path
) -> None:
    s, _ = seeded
    folder = external_data / "pdf"
    files = sorted(folder.glob("*.pdf"))
    if not files:
        pytest.skip(f"no PDFs in {folder}")
    counts = ingest_dataset(s, "entities.documents", folder)
    assert counts.get("valid", 0) == len(files), counts
    ds = _dataset(s, "entities.documents")
    try:
        silver = ds.silver.scan(["sha256", "file_name", "text", "pages", "doc_type"])
    finally:
        ds.close()
    real = silver.filter(pl.col("file_name").is_in([f.name for f in files]))
    assert set(real["sha256"]) == {hashlib.sha256(f.read_bytes()).hexdigest() for f in files}
    lm386 = real.filter(pl.col("file_name") == "LM386.pdf")
    if lm386.height:
        assert lm386["pages"][0] == 9 and "Audio Power Amplifier" in lm386["text"][0]
    assert real["doc_type"].null_count() == real.height  # not generated: no doc_type keyword


def test_watch_routes_files_and_pdfs_with_the_example_map(
    stack_settings: Settings, tmp_path: Path
) -> None:
    from fpdf import FPDF

    from lakesmith.pipeline.watch import Watcher, load_dataset_map

    lake = stack_settings.lake.model_copy(
        update={"warehouse": str(tmp_path / "lake"), "catalog_uri": f"sqlite:///{tmp_path}/c.db"}
    )
    s = stack_settings.model_copy(update={"lake": lake})
    folder = tmp_path / "drop"
    folder.mkdir()
    device = {
        "device_id": "sensor-7777", "model": "TH-100", "site": "site-000",
        "install_date": "2025-01-02T03:04:05Z", "status": "active", "tags": ["roof"],
        "updated_at": "2025-02-01T00:00:00Z", "deleted": False,
    }  # fmt: skip
    (folder / "devices_drop.json").write_text(json.dumps([device]))
    pdf = FPDF()
    pdf.set_keywords("doc_type=inspection_report; device_id=sensor-7777")
    pdf.add_page()
    pdf.set_font("helvetica", size=11)
    pdf.multi_cell(0, 6, "Inspection of sensor-7777 on the roof: mounting and cabling in order.")
    (folder / "inspection_7777.pdf").write_bytes(bytes(pdf.output()))
    (folder / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    mapping = Path(__file__).parents[2] / "src/lakesmith/domains/entities/examples/map.yaml"
    watcher = Watcher(s, folder, load_dataset_map(mapping), settle_s=0.2, rescan_s=0.2)
    try:
        outcomes = {o.path.name: o for o in watcher.run(once=True)}
    finally:
        watcher.close()
    assert outcomes["devices_drop.json"].status == "done"
    assert outcomes["devices_drop.json"].dataset == "entities.devices"
    assert outcomes["inspection_7777.pdf"].status == "done"
    assert outcomes["inspection_7777.pdf"].dataset == "entities.documents"
    assert outcomes["photo.png"].status == "no_handler"
    ds = _dataset(s, "entities.documents")
    try:
        docs = ds.silver.scan().select("file_name", "doc_type", "device_id", "text")
    finally:
        ds.close()
    assert docs.rows() == [
        ("inspection_7777.pdf", "inspection_report", "sensor-7777", docs["text"][0])
    ]
    assert "mounting and cabling" in docs["text"][0]


def test_migrations_match_the_sqlmodel_classes(stack_settings: Settings) -> None:
    import uuid

    from lakesmith.stores.warehouse import schema_diff, upgrade

    schema = f"e_{uuid.uuid4().hex[:8]}"
    upgrade(stack_settings, "entities", schema)
    tables = [t.name for t in MODEL.tables]
    assert schema_diff(stack_settings, schema, tables) == []
    views = _warehouse(
        stack_settings, f"SELECT matviewname FROM pg_matviews WHERE schemaname = '{schema}'"
    )
    assert views == [("mart_open_tickets",)]
    assert set(MODEL.sqlmodels) == {*tables, "mart_open_tickets"}
