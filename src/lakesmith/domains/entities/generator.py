"""The device-fleet generator (``lakesmith simulate entities``): the same seed gives the
same bytes.

Structured data is built column-wise with NumPy and Polars (100,000 devices in about a
second): ``models.csv``, ``sites.csv``, ``devices.json``, ``firmware_releases.json``,
``maintenance_log.csv``. Device ids are the IoT simulator's (``sensor-0000`` …, see
``domains.iot.simulator``), so the fleet joins the telemetry. PDFs (``documents``) are a
datasheet per model and a maintenance or inspection report for ``reports`` tickets.

Every record carries ``updated_at`` (the time of this version) and the contracts key
each entity on ``(id, updated_at)``: a later version of a device is a new silver row and
gold keeps the newest (``deleted: true`` is a tombstone).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from lakesmith.domains.entities import vocabulary as v

AS_OF = datetime(2025, 6, 30, tzinfo=UTC)
ISO = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class EntitiesConfig:
    seed: int = 7
    devices: int = 200
    models: int = 20
    sites: int | None = None  # default: devices / 10, between 5 and 1,000
    reports: int | None = None  # PDF reports; default: min(devices, 20)
    tickets_per_device: float = 1.5
    as_of: datetime = AS_OF

    @property
    def n_sites(self) -> int:
        return self.sites if self.sites is not None else max(5, min(1_000, self.devices // 10))

    @property
    def n_reports(self) -> int:
        return self.reports if self.reports is not None else min(self.devices, 20)


def device_ids(n: int) -> list[str]:
    """The IoT simulator's device ids for a fleet of ``n``."""
    return [f"sensor-{d:04d}" for d in range(n)]


def _iso(col: str) -> pl.Expr:
    return pl.col(col).dt.strftime(ISO)


def _times(as_of: datetime, days_back: np.ndarray) -> pl.Series:
    """``as_of`` minus ``days_back`` (floats), to the second, as UTC datetimes."""
    secs = np.round(days_back * 86_400).astype(np.int64)
    epoch = int(as_of.timestamp()) - secs
    return pl.Series(epoch * 1_000_000).cast(pl.Datetime("us", "UTC"))


@dataclass(frozen=True)
class Fleet:
    models: pl.DataFrame
    sites: pl.DataFrame
    devices: pl.DataFrame
    firmware: pl.DataFrame
    maintenance: pl.DataFrame


def make_models(cfg: EntitiesConfig, rng: np.random.Generator) -> pl.DataFrame:
    nf = len(v.FAMILIES)
    rows = []
    for i in range(cfg.models):
        prefix, sensors, family = v.FAMILIES[i % nf]
        maker = v.MANUFACTURERS[int(rng.integers(len(v.MANUFACTURERS)))][0]
        ranges = ";".join(
            f"{s}:{v.SENSORS[s][1]:g}..{v.SENSORS[s][2]:g} {v.SENSORS[s][0]}" for s in sensors
        )
        rows.append(
            {
                "model": f"{prefix}-{100 * (i // nf + 1) + 10 * int(rng.integers(10))}",
                "name": f"{maker.split()[0]} {prefix} {family}",
                "manufacturer": maker,
                "family": family,
                "sensor_types": ";".join(sensors),
                "ranges": ranges,
                "price": round(float(rng.uniform(49, 899)), 2),
                "currency": "EUR",
                "ip_rating": ("IP54", "IP65", "IP67")[int(rng.integers(3))],
                "interval_s": int((10, 30, 60, 300)[int(rng.integers(4))]),
                "launched": cfg.as_of - timedelta(days=int(rng.integers(400, 3000))),
            }
        )
    frame = pl.DataFrame(rows).with_columns(pl.col("launched").dt.cast_time_unit("us"))
    return frame.with_columns(
        (pl.col("launched") + pl.duration(days=30)).alias("updated_at"),
        pl.lit(False).alias("deleted"),
    )


def make_sites(cfg: EntitiesConfig, rng: np.random.Generator) -> pl.DataFrame:
    n = cfg.n_sites
    city = rng.integers(len(v.CITIES), size=n)
    kind = rng.integers(len(v.SITE_KINDS), size=n)
    width = max(3, len(str(n - 1)))
    names = [
        f"{v.CITIES[c][0]} {v.SITE_KINDS[k]} {i // len(v.CITIES) + 1}"
        for i, (c, k) in enumerate(zip(city.tolist(), kind.tolist(), strict=True))
    ]
    return pl.DataFrame(
        {
            "site": [f"site-{i:0{width}d}" for i in range(n)],
            "name": names,
            "kind": [v.SITE_KINDS[k] for k in kind.tolist()],
            "city": [v.CITIES[c][0] for c in city.tolist()],
            "country": [v.CITIES[c][1] for c in city.tolist()],
            "lat": np.round(np.array([v.CITIES[c][2] for c in city]) + rng.normal(0, 0.05, n), 5),
            "lon": np.round(np.array([v.CITIES[c][3] for c in city]) + rng.normal(0, 0.05, n), 5),
            "updated_at": _times(cfg.as_of, rng.uniform(200, 2500, n)),
            "deleted": [False] * n,
        }
    )


def make_firmware(
    cfg: EntitiesConfig, models: pl.DataFrame, rng: np.random.Generator
) -> pl.DataFrame:
    rows = []
    versions = ("v1.0.0", "v1.1.0", "v1.2.0", "v1.2.3", "v1.3.0", "v1.4.0", "v1.4.2")
    notes = {
        "v1.0.0": "Initial release.",
        "v1.1.0": "Configurable reporting interval; faster network join.",
        "v1.2.0": "Over-the-air update fallback to the previous image.",
        "v1.2.3": "Fixes a radio driver fault that dropped packets under load.",
        "v1.3.0": "Adds barometric pressure to the telemetry payload (schema v2).",
        "v1.4.0": "Battery-saving mode and improved sensor drift compensation.",
        "v1.4.2": "Security fix for the commissioning service; recommended for all units.",
    }
    for model, launched in models.select("model", "launched").iter_rows():
        count = int(rng.integers(3, len(versions) + 1))
        day = launched
        for version in versions[:count]:
            day = day + timedelta(days=int(rng.integers(60, 300)))
            if day > cfg.as_of:
                break
            rows.append(
                {
                    "model": model,
                    "version": version,
                    "released_at": day.strftime(ISO),
                    "channel": "stable",
                    "critical": version in ("v1.2.3", "v1.4.2"),
                    "notes": notes[version],
                }
            )
    return pl.DataFrame(rows)


def make_devices(
    cfg: EntitiesConfig,
    models: pl.DataFrame,
    sites: pl.DataFrame,
    firmware: pl.DataFrame,
    rng: np.random.Generator,
) -> pl.DataFrame:
    n = cfg.devices
    weights = 1.0 / np.arange(1, models.height + 1) ** 0.8
    model_i = rng.choice(models.height, size=n, p=weights / weights.sum())
    site_i = rng.integers(sites.height, size=n)
    status = rng.choice(len(v.STATUSES), size=n, p=np.array(v.STATUS_WEIGHTS))
    installed_back = rng.uniform(60, 6 * 365, n)
    updated_back = installed_back * rng.uniform(0.0, 0.9, n)
    tag_count = rng.integers(1, 4, n)
    tag_pick = rng.integers(len(v.TAGS), size=(n, 3))
    tags = [
        sorted({v.TAGS[t] for t in row[:k]})
        for row, k in zip(tag_pick.tolist(), tag_count.tolist(), strict=True)
    ]
    latest = firmware.group_by("model").agg(pl.col("version").max().alias("firmware_version"))
    model_names = models["model"].to_numpy()[model_i]
    frame = pl.DataFrame(
        {
            "device_id": device_ids(n),
            "model": model_names,
            "site": sites["site"].to_numpy()[site_i],
            "install_date": _times(cfg.as_of, installed_back),
            "status": [v.STATUSES[s] for s in status.tolist()],
            "tags": tags,
            "serial": [
                f"{m.split('-')[0]}{rng_s:07d}"
                for m, rng_s in zip(model_names, rng.integers(0, 10**7, n).tolist(), strict=True)
            ],
            "updated_at": _times(cfg.as_of, updated_back),
            "deleted": [False] * n,
        }
    )
    return frame.join(latest, on="model", how="left", maintain_order="left")


def make_maintenance(
    cfg: EntitiesConfig,
    devices: pl.DataFrame,
    models: pl.DataFrame,
    sites: pl.DataFrame,
    rng: np.random.Generator,
) -> pl.DataFrame:
    n = round(cfg.devices * cfg.tickets_per_device)
    dev_i = rng.integers(devices.height, size=n)
    installed = devices["install_date"].to_numpy()[dev_i]
    as_of = np.datetime64(cfg.as_of.replace(tzinfo=None), "us")
    span = (as_of - installed).astype("timedelta64[s]").astype(np.float64)
    opened = installed + (span * rng.uniform(0.05, 1.0, n)).astype("timedelta64[s]")
    hours = np.round(rng.lognormal(2.5, 1.0, n), 2)
    closed = opened + (hours * 3600).astype("timedelta64[s]")
    still_open = (rng.random(n) < 0.12) | (closed > as_of)
    category = rng.choice(len(v.CATEGORIES), size=n, p=np.array(v.CATEGORY_WEIGHTS))
    order = np.argsort(opened, kind="stable")
    dev_i, opened, closed, still_open, category = (
        dev_i[order], opened[order], closed[order], still_open[order], category[order]
    )  # fmt: skip
    dev = devices[dev_i.tolist()].select("device_id", "model", "site")
    sensors = dict(zip(models["model"], models["sensor_types"], strict=True))
    site_names = dict(zip(sites["site"], sites["name"], strict=True))
    pick = rng.integers(0, 1_000_000, n).tolist()
    descriptions = []
    for (device, model, site), c, k in zip(dev.iter_rows(), category.tolist(), pick, strict=True):
        templates = v.DESCRIPTIONS[v.CATEGORIES[c]]
        sensor = sensors[model].split(";")[k % len(sensors[model].split(";"))]
        descriptions.append(
            templates[k % len(templates)].format(
                device=device, model=model, site=site_names[site], sensor=sensor
            )
        )
    closed_s = pl.Series(closed).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    opened_s = pl.Series(opened).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    return pl.DataFrame(
        {
            "ticket": [f"MT-{i + 1:06d}" for i in range(n)],
            "device_id": dev["device_id"],
            "opened": opened_s,
            "closed": pl.Series(closed_s).scatter(np.flatnonzero(still_open).tolist(), None),
            "category": [v.CATEGORIES[c] for c in category.tolist()],
            "priority": [
                v.PRIORITIES[p]
                for p in rng.choice(len(v.PRIORITIES), size=n, p=np.array(v.PRIORITY_WEIGHTS))
            ],
            "technician": [v.TECHNICIANS[t] for t in rng.integers(len(v.TECHNICIANS), size=n)],
            "description": descriptions,
        }
    ).with_columns(
        pl.coalesce("closed", "opened").alias("updated_at"), pl.lit(False).alias("deleted")
    )


def make_fleet(cfg: EntitiesConfig) -> Fleet:
    """Every structured table of the fleet (deterministic in ``cfg``)."""
    rng = np.random.default_rng(cfg.seed)
    models = make_models(cfg, rng)
    sites = make_sites(cfg, rng)
    firmware = make_firmware(cfg, models, rng)
    devices = make_devices(cfg, models, sites, firmware, rng)
    maintenance = make_maintenance(cfg, devices, models, sites, rng)
    return Fleet(models, sites, devices, firmware, maintenance)


FILES = {
    "entities.models": "models.csv",
    "entities.sites": "sites.csv",
    "entities.devices": "devices.json",
    "entities.firmware": "firmware_releases.json",
    "entities.maintenance": "maintenance_log.csv",
    "entities.documents": "pdf",
}
"""Dataset → the file (or folder, for the PDFs) the generator writes under ``out``."""


def _json(frame: pl.DataFrame) -> bytes:
    """A JSON array of objects, one per row (pretty enough to read, one object a line)."""
    lines = [json.dumps(row, ensure_ascii=False) for row in frame.iter_rows(named=True)]
    return ("[\n" + ",\n".join(lines) + "\n]\n").encode()


def write_structured(fleet: Fleet, out: Path) -> dict[str, Path]:
    """Write the five structured files; returns dataset → path."""
    out.mkdir(parents=True, exist_ok=True)
    ts = ["launched", "updated_at", "install_date", "opened", "closed"]

    def text(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns([_iso(c) for c in ts if c in frame.columns])

    paths = {k: out / name for k, name in FILES.items()}
    text(fleet.models).write_csv(paths["entities.models"])
    text(fleet.sites).write_csv(paths["entities.sites"])
    paths["entities.devices"].write_bytes(_json(text(fleet.devices)))
    paths["entities.firmware"].write_bytes(_json(fleet.firmware))
    text(fleet.maintenance).write_csv(paths["entities.maintenance"])
    return {k: p for k, p in paths.items() if k != "entities.documents"}
