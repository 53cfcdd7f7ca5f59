"""A small entity fixture for search tests: devices joined with their model, manufacturer
and site (the columns ``search.documents.DEVICE_INPUT`` reads), the dimension keys they
carry, and a few PDF pages (datasheets per model, an inspection report) as
``PAGE_INPUT`` rows. Keys are computed as the gold layer computes them (``key_of``)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from lakesmith.gold.keys import key_of

MODELS = {  # model → (name, manufacturer, sensor types)
    "TH-200": ("ThermoHygro 200", "Nordic Sensing", ["temperature", "humidity"]),
    "GX-5": ("GasGuard GX-5", "Hanwei Instruments", ["carbon monoxide", "methane"]),
    "VB-90": ("VibraSense VB-90", "Rotek", ["vibration"]),
}
SITES = {  # site → (name, city, country); the third name is hostile on purpose
    "OSL": ("Oslo Harbour Cold Store", "Oslo", "Norway"),
    "BER": ("Berlin Pump Station", "Berlin", "Germany"),
    "HAM": ("Dock 7: North && South, [B] || x:=1", "Hamburg", "Germany"),
}
DEVICES = [  # device, model, site, status, installed, tags
    ("dev-001", "TH-200", "OSL", "active", dt.date(2021, 3, 4), ["cold-chain", "indoor"]),
    ("dev-002", "TH-200", "OSL", "active", dt.date(2022, 5, 17), ["cold-chain"]),
    ("dev-003", "VB-90", "BER", "maintenance", dt.date(2021, 11, 2), ["pump", "critical"]),
    ("dev-004", "VB-90", "BER", "active", dt.date(2023, 1, 9), ["pump"]),
    ("dev-005", "GX-5", "BER", "active", dt.date(2023, 8, 30), ["safety"]),
    ("dev-006", "GX-5", "HAM", "retired", dt.date(2020, 2, 14), ["safety", "outdoor"]),
    ("dev-007", "TH-200", "HAM", "active", dt.date(2024, 6, 1), ["outdoor"]),
    ("dev-008", "VB-90", "HAM", "active", dt.date(2025, 4, 22), []),
]
PAGES = [  # doc, page, type, title, date, model, device, text
    ("ds-TH-200", 1, "datasheet", "ThermoHygro 200 datasheet", dt.date(2022, 3, 1), "TH-200", None,
     "The ThermoHygro 200 records air temperature and relative humidity every ten seconds. "
     "Operating range -40 to 85 °C. Suitable for cold rooms and refrigerated warehouses."),
    ("ds-GX-5", 1, "datasheet", "GasGuard GX-5 datasheet", dt.date(2023, 6, 15), "GX-5", None,
     "The GasGuard GX-5 detects carbon monoxide and methane concentrations. An audible alarm "
     "sounds at 85 dB when the threshold is exceeded. Electrochemical cell, replace every two years."),
    ("ds-VB-90", 1, "datasheet", "VibraSense VB-90 datasheet", dt.date(2021, 9, 10), "VB-90", None,
     "The VibraSense VB-90 accelerometer monitors bearing wear on rotating machinery and reports "
     "RMS velocity."),
    ("ds-VB-90", 2, "datasheet", "VibraSense VB-90 datasheet", dt.date(2021, 9, 10), "VB-90", None,
     "Mounting: stud mount on the housing with the supplied M6 screw. Cable length 5 m."),
    ("rep-dev-003-2024", 1, "report", "Inspection report dev-003", dt.date(2024, 11, 2), "VB-90",
     "dev-003",
     "Inspection report for dev-003. Corrosion found on the enclosure seal; gasket replaced; "
     "device recalibrated and returned to service."),
]  # fmt: skip


def dim_models() -> pl.DataFrame:
    return pl.DataFrame(
        [
            {"model": m, "model_name": n, "manufacturer": mf, "sensor_types": s,
             "model_key": key_of(m), "manufacturer_key": key_of(mf)}
            for m, (n, mf, s) in MODELS.items()
        ]
    )  # fmt: skip


def dim_sites() -> pl.DataFrame:
    return pl.DataFrame(
        [
            {"site": s, "site_name": n, "city": c, "country": k, "site_key": key_of(s)}
            for s, (n, c, k) in SITES.items()
        ]
    )


def devices() -> pl.DataFrame:
    """The devices with their model and site attributes and keys (``DEVICE_INPUT``)."""
    rows = pl.DataFrame(
        [
            {"device_id": d, "model": m, "site": s, "status": st, "install_date": i, "tags": t,
             "device_key": key_of(d)}
            for d, m, s, st, i, t in DEVICES
        ],
        schema_overrides={"tags": pl.List(pl.String)},
    )  # fmt: skip
    return rows.join(dim_models(), on="model", how="left").join(dim_sites(), on="site", how="left")


def pages() -> pl.DataFrame:
    """The PDF pages (``PAGE_INPUT``): datasheets per model, one device report."""
    site_of = {d: s for d, _, s, *_ in DEVICES}
    rows = pl.DataFrame(
        [
            {"doc_id": doc, "page": p, "doc_type": ty, "title": ti, "date": da, "model": m,
             "device_id": dev, "site": site_of.get(dev or ""), "text": tx,
             "device_key": None if dev is None else key_of(dev)}
            for doc, p, ty, ti, da, m, dev, tx in PAGES
        ],
        schema_overrides={"device_id": pl.String, "site": pl.String, "device_key": pl.Int64},
    )  # fmt: skip
    return rows.join(dim_models(), on="model", how="left").join(dim_sites(), on="site", how="left")
