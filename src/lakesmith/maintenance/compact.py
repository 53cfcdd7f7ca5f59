"""Compaction of a dataset's lake tables: ``lakesmith compact DATASET``.

Format-neutral: each table compacts itself (``LakeTable.compact``: small files rewritten
per partition, old snapshots / versions expired); this job picks the tables, checks they
exist and gives silver its natural key for deduplication. ``gold`` names the gold model's
lake tables (a dataset whose contract has ``gold:``): each batch replaces a few rows of
them, so they collect small files and deletion vectors like a trickle does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from lakesmith.config import Settings
from lakesmith.contracts.model import Contract
from lakesmith.core.errors import LakesmithError
from lakesmith.pipeline.dataset import LAYERS, Dataset
from lakesmith.stores.lake import CompactOptions, CompactReport

TABLES = LAYERS
CHOICES = (*LAYERS, "gold")  # what --tables may name


class CompactionError(LakesmithError):
    """A table cannot be compacted (missing, or unknown table name)."""


def compact(
    settings: Settings,
    contract: Contract,
    options: CompactOptions,
    tables: Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[CompactReport]:
    """Compact (or with ``options.dry_run`` only plan) the requested tables of the dataset
    (None: every table that exists). ``progress("<table> <partition>")`` follows every
    planned partition."""
    unknown = sorted(set(tables or ()) - set(CHOICES))
    if unknown:
        raise CompactionError(
            f"unknown table(s) {', '.join(unknown)}", hint=f"choose from {', '.join(CHOICES)}"
        )
    dataset = Dataset(settings, contract)
    lake = {**dataset.lake, **{f"gold.{name}": t for name, t in dataset.gold.items()}}
    # a split silver is several tables (silver.<split>), gold the model's: the layer names all
    wanted = [
        key
        for t in dict.fromkeys(tables or CHOICES)
        for key in lake
        if key == t or key.startswith(f"{t}.")
    ]
    if tables and "gold" in tables and not dataset.gold:
        raise CompactionError(
            f"{contract.name} has no gold tables in the lake",
            hint="its contract names no gold model (gold:), or gold.lake is false",
        )
    missing = [t for t in wanted if not lake[t].exists()]
    if (tables and missing) or len(missing) == len(wanted):
        labels = ", ".join(lake[t].label for t in missing)
        raise CompactionError(
            f"{contract.name}: no lake table {labels}",
            hint=f"run `lakesmith run {contract.name}` first to create the tables",
        )
    reports = []
    for name in wanted:
        if name in missing:
            continue
        keys = tuple(contract.keys) if name.startswith("silver") else ()
        opts = dataclasses.replace(options, dedupe_keys=keys)

        def step(label: str, name: str = name) -> None:
            if progress is not None:
                progress(f"{name} {label}")

        reports.append(lake[name].compact(opts, step))
    return reports
