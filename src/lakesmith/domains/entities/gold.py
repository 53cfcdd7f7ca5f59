"""The entities star schema, rebuilt from silver with Polars (``gold.batch``).

Dimensions: ``dim_manufacturer``, ``dim_model``, ``dim_site``, ``dim_firmware``,
``dim_device``, ``dim_document`` (each PDF, with the keys of the model, device and site
it is about) and ``dim_date`` (``gold.calendar``). Facts: ``fact_maintenance`` (one row
per ticket: device, model, site, manufacturer and date keys, open/closed, duration) and
``fact_device_day`` (per device and UTC day, from ``iot.telemetry`` silver when that
dataset exists). Entities are type 1: the newest version of each natural key
(``updated_at``, then ingestion time) wins and a ``deleted`` version removes it. Keys are
``gold.keys`` hashes of the natural ids, the same in the lake and the warehouse, so a
search hit's ``device_key`` finds its row. A fact's key is null when its dimension has
no such member (a ticket of an unknown device), never a dangling key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

import polars as pl

from lakesmith.core.columns import INGESTED_AT
from lakesmith.gold.batch import BatchGoldModel
from lakesmith.gold.calendar import date_key
from lakesmith.gold.keys import surrogate_key
from lakesmith.gold.model import GoldTable
from lakesmith.stores import warehouse_entities as we
from lakesmith.stores.warehouse import columns_of

DEVICES, MODELS, SITES = "entities.devices", "entities.models", "entities.sites"
FIRMWARE, MAINTENANCE, DOCUMENTS = "entities.firmware", "entities.maintenance", "entities.documents"
TELEMETRY = "iot.telemetry"


def _table(name: str, model: type, key: str, **kw: object) -> GoldTable:
    return GoldTable(name, columns_of(model), key, **kw)  # type: ignore[arg-type]


def latest(frame: pl.LazyFrame, keys: Sequence[str], order: str = "updated_at") -> pl.LazyFrame:
    """The newest version of each ``keys`` (by ``order``, then ingestion time), tombstones
    (``deleted``) dropped."""
    sort = [c for c in (order, INGESTED_AT) if c in frame.collect_schema().names()]
    newest = frame.sort(sort, nulls_last=False).group_by(keys, maintain_order=True).last()
    if "deleted" in frame.collect_schema().names():
        newest = newest.filter(~pl.col("deleted").fill_null(False))
    return newest


def _keyed(frame: pl.DataFrame, natural: str, key: str) -> pl.DataFrame:
    """``frame`` with ``key`` = hash of ``natural`` (null where ``natural`` is null)."""
    out = surrogate_key(frame, [natural], key)
    return out.with_columns(pl.when(pl.col(natural).is_not_null()).then(pl.col(key)).alias(key))


def _member(frame: pl.DataFrame, key: str, dim: pl.DataFrame) -> pl.DataFrame:
    """Null ``key`` where ``dim`` has no such member (no dangling keys)."""
    known = dim.get_column(key).implode()
    return frame.with_columns(
        pl.when(pl.col(key).is_in(known)).then(pl.col(key)).otherwise(None).alias(key)
    )


class EntitiesModel(BatchGoldModel):
    name = "entities"
    inputs = (MODELS, SITES, DEVICES, FIRMWARE, MAINTENANCE)
    optional_inputs = (DOCUMENTS, TELEMETRY)
    tables = (
        _table("dim_date", we.DimDate, "date_key", static=True),
        _table("dim_manufacturer", we.DimManufacturer, "manufacturer_key"),
        _table("dim_model", we.DimModel, "model_key"),
        _table("dim_site", we.DimSite, "site_key"),
        _table("dim_firmware", we.DimFirmware, "firmware_key"),
        _table("dim_device", we.DimDevice, "device_key"),
        _table("dim_document", we.DimDocument, "document_key"),
        _table("fact_maintenance", we.FactMaintenance, "maintenance_key"),
        _table("fact_device_day", we.FactDeviceDay, "device_day_key"),
    )
    marts = ("mart_open_tickets",)
    input_columns: ClassVar[Mapping[str, Sequence[str]]] = {
        TELEMETRY: ("device_id", "timestamp", "temperature", "humidity", "pressure"),
        DOCUMENTS: (
            "sha256", "file_name", "doc_type", "title", "pages", "bytes", "model",
            "device_id", "site", "ticket", "document_date", "created", "received_at",
        ),
    }  # fmt: skip
    sqlmodels: ClassVar[Mapping[str, type]] = {
        m.__tablename__: m  # type: ignore[misc]
        for m in (*we.TABLES, *we.MARTS)
    }

    def build(self, silver: Mapping[str, pl.LazyFrame]) -> Mapping[str, pl.DataFrame]:
        models = latest(silver[MODELS], ["model"]).collect()
        models = _keyed(_keyed(models, "model", "model_key"), "manufacturer", "manufacturer_key")
        manufacturers = (
            models.group_by("manufacturer_key", "manufacturer")
            .agg(pl.len().cast(pl.Int64).alias("models"))
            .sort("manufacturer")
        )
        sites = _keyed(latest(silver[SITES], ["site"]).collect(), "site", "site_key")
        firmware = self._firmware(silver[FIRMWARE], models)
        devices = self._devices(silver[DEVICES], models, sites, firmware)
        out = {
            "dim_manufacturer": manufacturers,
            "dim_model": models,
            "dim_site": sites,
            "dim_firmware": firmware,
            "dim_device": devices,
            "fact_maintenance": self._maintenance(silver[MAINTENANCE], devices),
        }
        if DOCUMENTS in silver:
            out["dim_document"] = self._documents(silver[DOCUMENTS], models, devices, sites)
        if TELEMETRY in silver:
            out["fact_device_day"] = self._device_days(silver[TELEMETRY], devices)
        return out

    @staticmethod
    def _firmware(silver: pl.LazyFrame, models: pl.DataFrame) -> pl.DataFrame:
        rows = latest(silver, ["model", "version"], "released_at").collect()
        rows = surrogate_key(rows, ["model", "version"], "firmware_key")
        rows = rows.sort("model", "released_at", "version")
        newest = pl.int_range(pl.len()).over("model") == pl.len().over("model") - 1
        return rows.join(models.select("model", "model_key"), on="model", how="left").with_columns(
            date_key(pl.col("released_at")).alias("released_date_key"),
            newest.alias("is_latest"),
        )

    @staticmethod
    def _devices(
        silver: pl.LazyFrame, models: pl.DataFrame, sites: pl.DataFrame, firmware: pl.DataFrame
    ) -> pl.DataFrame:
        rows = _keyed(latest(silver, ["device_id"]).collect(), "device_id", "device_key")
        rows = (
            rows.join(
                models.select("model", "model_key", "manufacturer_key"), on="model", how="left"
            )
            .join(sites.select("site", "site_key"), on="site", how="left")
            .join(
                firmware.select(
                    "model", pl.col("version").alias("firmware_version"), "firmware_key"
                ),
                on=["model", "firmware_version"],
                how="left",
            )
        )
        tags = pl.col("tags").str.json_decode(pl.List(pl.String)).list.join(",")
        return rows.with_columns(
            tags.alias("tags"), date_key(pl.col("install_date")).alias("install_date_key")
        )

    @staticmethod
    def _maintenance(silver: pl.LazyFrame, devices: pl.DataFrame) -> pl.DataFrame:
        rows = surrogate_key(latest(silver, ["ticket"]).collect(), ["ticket"], "maintenance_key")
        dims = devices.select(
            "device_id", "device_key", "model_key", "site_key", "manufacturer_key"
        )
        hours = (pl.col("closed") - pl.col("opened")).dt.total_seconds() / 3600.0
        return rows.join(dims, on="device_id", how="left").with_columns(
            date_key(pl.col("opened")).alias("opened_date_key"),
            date_key(pl.col("closed")).alias("closed_date_key"),
            pl.col("closed").is_null().alias("is_open"),
            pl.when(hours >= 0).then(hours.round(2)).alias("duration_hours"),
        )

    @staticmethod
    def _documents(
        silver: pl.LazyFrame, models: pl.DataFrame, devices: pl.DataFrame, sites: pl.DataFrame
    ) -> pl.DataFrame:
        docs = latest(silver, ["sha256"], "received_at").collect()
        docs = surrogate_key(docs, ["sha256"], "document_key")
        for natural, key, dim in (
            ("model", "model_key", models),
            ("device_id", "device_key", devices),
            ("site", "site_key", sites),
        ):
            docs = _member(_keyed(docs, natural, key), key, dim)
        docs = docs.join(models.select("model_key", "manufacturer_key"), on="model_key", how="left")
        when = pl.coalesce("document_date", "created")
        return docs.with_columns(
            pl.col("doc_type").fill_null("other"),
            date_key(when).alias("date_key"),
        )

    @staticmethod
    def _device_days(silver: pl.LazyFrame, devices: pl.DataFrame) -> pl.DataFrame:
        names = silver.collect_schema().names()
        day = date_key(pl.col("timestamp")).alias("date_key")
        aggs = [pl.len().cast(pl.Int64).alias("readings")]
        for col, stats in (
            ("temperature", ("avg", "min", "max")),
            ("humidity", ("avg",)),
            ("pressure", ("avg",)),
        ):
            for stat in stats:
                expr = pl.col(col).mean() if stat == "avg" else getattr(pl.col(col), stat)()
                aggs.append(
                    (expr if col in names else pl.lit(None, pl.Float64)).alias(f"{col}_{stat}")
                )
        days = silver.group_by("device_id", day).agg(aggs).collect()
        days = surrogate_key(days, ["device_id", "date_key"], "device_day_key")
        dims = devices.select("device_id", "device_key", "model_key", "site_key")
        return days.join(dims, on="device_id", how="left").sort("date_key", "device_id")


MODEL = EntitiesModel()
