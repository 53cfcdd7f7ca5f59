"""What a contract may name, and where each is implemented: source kinds
(``source.kind``) and payload formats (``payload.format``).

The tables map names to module paths, imported only when a contract uses them (like
pyiceberg's catalog registry), so a missing optional library costs nothing until then and
then fails with the pip command that installs it. ``sources.registry`` and ``formats``
build their objects from these modules; other packages add kinds with ``register_source``
or an entry point in the ``lakesmith.sources`` group, formats with ``register_format``.
"""

from __future__ import annotations

import difflib
import importlib
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

from pydantic import BaseModel

from lakesmith.core.errors import ContractError

# kind → (module exposing SPEC and SOURCE, pip extra that brings its library or None)
_KINDS: dict[str, tuple[str, str | None]] = {
    "kafka": ("lakesmith.sources.kafka", None),
    "file": ("lakesmith.sources.file", None),
    "s3": ("lakesmith.sources.objects", None),
    "bronze": ("lakesmith.sources.bronze", None),
    "http": ("lakesmith.sources.http", None),
    "sql": ("lakesmith.sources.sql", None),
    "api": ("lakesmith.sources.api", None),  # REST API writes (never in a contract file)
}
# format → module exposing FORMAT
_FORMATS: dict[str, str] = {
    "json": "lakesmith.formats.json",
    "jsonl": "lakesmith.formats.jsonl",
    "csv": "lakesmith.formats.csv",
    "parquet": "lakesmith.formats.parquet",
    "pdf": "lakesmith.formats.pdf",
}


def register_source(kind: str, module: str, extra: str | None = None) -> None:
    """Register (or replace) the module implementing source ``kind``."""
    _KINDS[kind] = (module, extra)


def register_format(name: str, module: str) -> None:
    """Register (or replace) the module implementing payload format ``name``."""
    _FORMATS[name] = module


def known_kinds() -> list[str]:
    _load_entry_points()
    return sorted(_KINDS)


def known_formats() -> list[str]:
    return sorted(_FORMATS)


def _load_entry_points() -> None:
    for ep in entry_points(group="lakesmith.sources"):
        _KINDS.setdefault(ep.name, (ep.value, None))


def _unknown(what: str, name: str, known: list[str]) -> ContractError:
    close = difflib.get_close_matches(name, known, n=1)
    return ContractError(
        f"unknown {what} {name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""),
        hint=f"use one of: {', '.join(known)}, or register a module for it",
    )


def _import(module: str, what: str, extra: str | None) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            raise
        pkg = f"lakesmith[{extra}]" if extra else exc.name
        raise ContractError(
            f"{what} needs the Python package {exc.name!r}, which is not installed",
            hint=f"pip install '{pkg}'",
        ) from None


def source_module(kind: str) -> ModuleType:
    """The module implementing source ``kind`` (``SPEC``, ``SOURCE``)."""
    if kind not in _KINDS:
        _load_entry_points()
    if kind not in _KINDS:
        raise _unknown("source kind", kind, sorted(_KINDS))
    module, extra = _KINDS[kind]
    return _import(module, f"source kind {kind!r}", extra)


def format_module(name: str) -> ModuleType:
    """The module implementing payload format ``name`` (``FORMAT``)."""
    if name not in _FORMATS:
        raise _unknown("payload format", name, known_formats())
    return _import(_FORMATS[name], f"payload format {name!r}", None)


def parse_spec(data: Any) -> BaseModel:
    """The contract's ``source`` section as the spec model its kind registered."""
    if isinstance(data, BaseModel):
        return data
    if not isinstance(data, dict) or "kind" not in data:
        raise ValueError(f"source needs a 'kind' (one of: {', '.join(known_kinds())})")
    try:
        cls: type[BaseModel] = source_module(str(data["kind"])).SPEC
    except ContractError as exc:
        raise ValueError(str(exc)) from None
    return cls.model_validate(data)
