"""The lake: a dataset's tables in Apache Iceberg or Delta Lake, chosen per dataset.

``open_table`` is the only way in; the format's module (and its library) is imported on
first use, with an install hint when the library is missing (like pyiceberg's catalog
registry).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from lakesmith.core.errors import ConfigError
from lakesmith.stores.lake.base import (
    SCHEMA_VERSION_PROP,
    CommitLock,
    CompactOptions,
    CompactReport,
    Filter,
    LakeFormat,
    LakeTable,
)

if TYPE_CHECKING:
    from lakesmith.config import Settings

# format → (module, class, what to pip install when its library is missing)
_FORMATS: dict[str, tuple[str, str, str]] = {
    "iceberg": ("lakesmith.stores.lake.iceberg", "IcebergTable", "lakesmith"),
    "delta": ("lakesmith.stores.lake.delta", "DeltaTable", "lakesmith[delta]"),
}


def open_table(
    settings: Settings,
    format: str,
    namespace: str,
    name: str,
    commit_lock: CommitLock | None = None,
) -> LakeTable:
    """The ``namespace.name`` table of the lake in ``format`` (not created until ``ensure``);
    ``commit_lock`` serialises its commits with other workers' (see ``CommitLock``)."""
    if format not in _FORMATS:
        raise ConfigError(
            f"unknown lake format {format!r}", hint=f"choose one of: {', '.join(_FORMATS)}"
        )
    module, cls, package = _FORMATS[format]
    try:
        impl = getattr(importlib.import_module(module), cls)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"the {format} lake format needs the Python package {exc.name!r}, "
            "which is not installed",
            hint=f"pip install '{package}' (in a checkout: uv sync --all-extras)",
        ) from None
    table: LakeTable = impl(settings, namespace, name, commit_lock)
    return table


__all__ = [
    "SCHEMA_VERSION_PROP",
    "CommitLock",
    "CompactOptions",
    "CompactReport",
    "Filter",
    "LakeFormat",
    "LakeTable",
    "open_table",
]
