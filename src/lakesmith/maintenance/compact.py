"""Compaction of a dataset's lake tables: ``lakesmith compact DATASET``.

Format-neutral: each table compacts itself (``LakeTable.compact``: small files rewritten
per partition, old snapshots / versions expired); this job picks the tables, checks they
exist and gives silver its natural key for deduplication.
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
    unknown = sorted(set(tables or ()) - set(TABLES))
    if unknown:
        raise CompactionError(
            f"unknown table(s) {', '.join(unknown)}", hint=f"choose from {', '.join(TABLES)}"
        )
    dataset = Dataset(settings, contract)
    # a split silver is several tables (silver.<split>): "silver" names them all
    wanted = [
        key
        for t in dict.fromkeys(tables or TABLES)
        for key in dataset.lake
        if key == t or key.startswith(f"{t}.")
    ]
    missing = [t for t in wanted if not dataset.lake[t].exists()]
    if (tables and missing) or len(missing) == len(wanted):
        labels = ", ".join(dataset.lake[t].label for t in missing)
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

        reports.append(dataset.lake[name].compact(opts, step))
    return reports
