"""What the lake holds, collected from the code (not from a running lake).

- datasets: every built-in contract (``contracts.loader.builtin_contracts``), grouped by the
  domain registry (``lakesmith.domains``), with the tables ``pipeline.dataset.Dataset`` names
  for it (bronze, quarantine, silver or its splits, the time-series table, its gold tables);
- gold models: the streaming models of ``gold.registry`` (through the contracts naming them)
  and the batch models of ``gold.batch`` (every ``BatchGoldModel`` their modules define),
  with their tables, keys and partitioning, and the warehouse schema each is loaded into;
- the lake's layout for a settings object: warehouse root, catalog, namespaces and tables.

``Dataset`` is built on settings that read no environment and no config file (so the
result is the same everywhere) with a throw-away state dir: an Iceberg table handle opens
the SQL catalog there, nothing else is touched. Paths under that state dir are shown under
``STATE_DIR_LABEL``.
"""

from __future__ import annotations

import importlib
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lakesmith.config import Settings
from lakesmith.contracts.model import Contract

STATE_DIR_LABEL = "<project>/.lakesmith"
"""How the local state dir is written in the diagrams (it is absolute on every machine)."""
S3_EXAMPLE_WAREHOUSE = "s3://lakesmith-lake/warehouse"
"""The ``lake.warehouse`` used to show the layout on S3 (any bucket/prefix works alike)."""


@dataclass(frozen=True)
class SilverTable:
    label: str  # namespace.name
    split: str | None  # which rows: "page in NextSong", "page: every other value", None


@dataclass(frozen=True)
class DatasetDoc:
    name: str
    domain: str
    source: str  # "kafka topic iot.telemetry (6 partitions, key device_id, 168 h)"
    payload_format: str
    table_format: str  # "iceberg", or "iceberg (lake.format)" when the contract leaves it open
    bronze: str
    quarantine: str
    silver: tuple[SilverTable, ...]
    keys: tuple[str, ...]
    partition_by: tuple[str, ...]  # "day(timestamp)"
    sort_by: tuple[str, ...]
    fields: tuple[tuple[str, str, int], ...]  # (name, type, since) of the newest version
    evolution: str
    timeseries: str | None  # "timeseries.iot_telemetry"
    gold_model: str | None
    gold_tables: tuple[str, ...]  # lake labels of its gold tables


@dataclass(frozen=True)
class GoldTableDoc:
    name: str
    key: str
    references: tuple[str, ...]  # the other *_key columns (keys of other tables)
    partition_by: tuple[str, ...]
    static: bool


@dataclass(frozen=True)
class GoldModelDoc:
    model: str
    kind: str  # "streaming" (updated batch by batch) or "batch" (rebuilt from silver)
    lake_namespace: str | None
    warehouse_schema: str | None
    inputs: tuple[str, ...]
    optional_inputs: tuple[str, ...]
    tables: tuple[GoldTableDoc, ...]
    marts: tuple[str, ...]


@dataclass(frozen=True)
class LakeLayout:
    title: str
    warehouse: str
    catalog: str
    examples: tuple[str, ...]  # where one table's folder is (per table format)
    namespaces: dict[str, tuple[str, ...]] = field(default_factory=dict)  # ns → tables


@contextmanager
def throwaway_settings(**lake: Any) -> Iterator[Settings]:
    """Default settings (no env, no lakesmith.toml) on a temporary state dir; ``lake``
    overrides ``[lake]`` fields. Commit locks off: nothing connects to PostgreSQL."""
    from lakesmith.config.pipeline import LakeSettings

    with tempfile.TemporaryDirectory(prefix="lakesmith-docs-") as tmp:
        yield Settings.model_construct(
            state_dir=Path(tmp), lake=LakeSettings(commit_lock="none", **lake)
        )


def domain_of_contracts() -> dict[str, str]:
    """Dataset name → the registered domain that ships it."""
    from lakesmith.domains import DOMAINS, load_domain

    out: dict[str, str] = {}
    for name in sorted(DOMAINS):
        for dataset in load_domain(name).contracts:
            out[dataset] = name
    return out


def describe_source(spec: Any) -> str:
    """One line for a contract's ``source`` (never a secret: URLs of SQL sources are not
    shown, only the table or the variable naming the URL)."""
    kind = spec.kind
    if kind == "kafka":
        extra = f", key {spec.key_field}" if spec.key_field else ""
        return (
            f"kafka topic {spec.topic} ({spec.partitions} partitions{extra}, "
            f"{spec.retention_hours} h retention)"
        )
    if kind == "s3":
        return f"s3 objects s3://{spec.bucket}/{spec.prefix}"
    if kind == "file":
        return f"files {spec.path}"
    if kind == "http":
        return f"http {spec.url}" if isinstance(spec.url, str) else "http (url from env)"
    if kind == "sql":
        where = spec.table or "a query"
        return f"sql {spec.mode} {where}"
    return str(kind)


def _split_rule(contract: Contract, table: str) -> str | None:
    spec = contract.silver
    if spec.split_by is None:
        return None
    values = spec.tables[table]
    if isinstance(values, list):
        return f"{spec.split_by} in {', '.join(values)}"
    return f"{spec.split_by}: every other value"


def _dataset_doc(settings: Settings, contract: Contract, domain: str) -> DatasetDoc:
    from lakesmith.pipeline.dataset import Dataset
    from lakesmith.stores.timeseries import SCHEMA as TIMESERIES_SCHEMA

    ds = Dataset(settings, contract)
    try:
        silver = tuple(
            SilverTable(t.label, _split_rule(contract, split) if contract.silver.split_by else None)
            for split, t in ds.silver_tables.items()
        )
        chosen = contract.lake.format is not None
        newest = contract.fields_at(contract.latest_version)
        return DatasetDoc(
            name=contract.name,
            domain=domain,
            source=describe_source(contract.source),
            payload_format=contract.payload.format,
            table_format=ds.format if chosen else f"{ds.format} (lake.format)",
            bronze=ds.bronze.label,
            quarantine=ds.quarantine.label,
            silver=silver,
            keys=tuple(contract.keys),
            partition_by=tuple(f"{p.transform}({p.field})" for p in contract.lake.partition_by),
            sort_by=tuple(contract.lake.sort_by),
            fields=tuple((f.name, f.type, f.since) for f in newest),
            evolution=contract.evolution,
            timeseries=(
                f"{TIMESERIES_SCHEMA}.{ds.timeseries.table}" if ds.timeseries is not None else None
            ),
            gold_model=contract.gold.model if contract.gold is not None else None,
            gold_tables=tuple(t.label for t in ds.gold.values()),
        )
    finally:
        ds.close()


def datasets(settings: Settings) -> list[DatasetDoc]:
    """Every built-in dataset, by name."""
    from lakesmith.contracts.loader import builtin_contracts

    domains = domain_of_contracts()
    return [
        _dataset_doc(settings, c, domains.get(name, "other"))
        for name, c in sorted(builtin_contracts().items())
    ]


def _table_doc(t: Any) -> GoldTableDoc:
    names = [c.name for c in t.columns]
    refs = tuple(n for n in names if n.endswith("_key") and n != t.key)
    parts = tuple(f"{transform}({col})" for col, transform in t.partition_by)
    return GoldTableDoc(t.name, t.key, refs, parts, t.static)


def _batch_models() -> list[Any]:
    """Every ``BatchGoldModel`` the registered batch modules define, one per name (models
    of one name, such as the sales star from two inputs, share their tables)."""
    from lakesmith.gold.batch import BATCH_MODELS, BatchGoldModel

    found: dict[str, list[Any]] = {}
    for module in sorted(set(BATCH_MODELS.values())):
        mod = importlib.import_module(module)
        for attr in sorted(vars(mod)):
            value = getattr(mod, attr)
            if isinstance(value, BatchGoldModel) and value not in found.get(value.name, []):
                found.setdefault(value.name, []).append(value)
    return [found[name] for name in sorted(found)]


def gold_models(settings: Settings) -> list[GoldModelDoc]:
    """The streaming models (through the contracts that name them) and the batch models."""
    from lakesmith.api.services.gold import warehouse_models
    from lakesmith.contracts.loader import builtin_contracts
    from lakesmith.gold.registry import load_model

    schemas = warehouse_models(settings)
    out: list[GoldModelDoc] = []
    for name, contract in sorted(builtin_contracts().items()):
        spec = contract.gold
        if spec is None:
            continue
        model = load_model(spec.model)
        out.append(
            GoldModelDoc(
                model=spec.model,
                kind="streaming",
                lake_namespace=spec.schema_name if spec.lake else None,
                warehouse_schema=spec.schema_name if spec.warehouse else None,
                inputs=(name,),
                optional_inputs=(),
                tables=tuple(_table_doc(t) for t in model.tables),
                marts=tuple(model.marts),
            )
        )
    for same_name in _batch_models():
        first = same_name[0]
        inputs = _unique(i for m in same_name for i in m.inputs)
        optional = _unique(i for m in same_name for i in m.optional_inputs)
        out.append(
            GoldModelDoc(
                model=first.name,
                kind="batch",
                lake_namespace=first.name,  # gold.batch.write_lake: <model name>.<table>
                warehouse_schema=schemas.get(first.name),
                inputs=inputs,
                optional_inputs=optional,
                tables=tuple(_table_doc(t) for t in first.tables),
                marts=tuple(first.marts),
            )
        )
    return out


def _unique(items: Any) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def lake_layout(
    title: str, settings: Settings, data: Sequence[DatasetDoc], gold: Sequence[GoldModelDoc]
) -> LakeLayout:
    """Namespaces and tables of the lake under ``settings`` (warehouse root, catalog)."""
    state = settings.state_dir.resolve()
    warehouse = settings.effective_warehouse().replace(state.as_uri(), STATE_DIR_LABEL)
    if settings.lake.catalog_uri:
        catalog = "lake.catalog_uri"
    elif settings.lake.catalog == "postgres":
        catalog = "PostgreSQL (lake.catalog = postgres): the SQL catalog's tables"
    elif settings.lake.catalog == "glue":
        catalog = "AWS Glue Data Catalog (lake.catalog = glue): one database per namespace"
    else:
        catalog = settings.effective_catalog_uri().replace(str(state), STATE_DIR_LABEL)
    spaces: dict[str, list[str]] = {}
    for d in data:
        for label in (d.bronze, d.quarantine, *(s.label for s in d.silver)):
            ns, name = label.split(".", 1)
            spaces.setdefault(ns, []).append(name)
    for g in gold:
        if g.lake_namespace is not None:
            names = spaces.setdefault(g.lake_namespace, [])
            names.extend(t.name for t in g.tables if t.name not in names)
    order = ["bronze", "quarantine", "silver"]
    ordered = {ns: tuple(spaces[ns]) for ns in order if ns in spaces}
    ordered.update({ns: tuple(spaces[ns]) for ns in sorted(spaces) if ns not in order})
    from lakesmith.stores.lake.delta_layout import table_uri

    ns, name = data[0].silver[0].label.split(".", 1)
    delta = table_uri(settings, ns, name).replace(state.as_uri(), STATE_DIR_LABEL) + "/"
    examples: tuple[str, ...]
    if settings.lake.catalog == "glue":
        # pyiceberg's GlueCatalog places a table Hive style (stores/lake/iceberg_catalog.py)
        examples = (f"Iceberg: {warehouse}/{ns}.db/{name}/", f"Delta: {delta}")
    else:
        examples = (f"Iceberg and Delta: {delta}",)
    return LakeLayout(title, warehouse, catalog, examples, ordered)


@dataclass(frozen=True)
class Inventory:
    datasets: tuple[DatasetDoc, ...]
    gold: tuple[GoldModelDoc, ...]
    layouts: tuple[LakeLayout, ...]


def collect() -> Inventory:
    """Everything the diagrams show, for the local defaults and an S3 warehouse with the
    PostgreSQL catalog (the compose stack) or the Glue catalog (the AWS Terraform)."""
    with throwaway_settings() as local:
        data = datasets(local)
        gold = gold_models(local)
        layouts = [lake_layout("local defaults", local, data, gold)]
    with throwaway_settings(warehouse=S3_EXAMPLE_WAREHOUSE, catalog="postgres") as s3:
        # names do not depend on where the warehouse is: only the layout is recomputed
        layouts.append(lake_layout("S3 warehouse, PostgreSQL catalog", s3, data, gold))
    with throwaway_settings(warehouse=S3_EXAMPLE_WAREHOUSE, catalog="glue") as glue:
        layouts.append(lake_layout("S3 warehouse, Glue catalog", glue, data, gold))
    return Inventory(tuple(data), tuple(gold), tuple(layouts))
