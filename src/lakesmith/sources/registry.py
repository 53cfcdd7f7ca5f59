"""Source kinds by the contract's ``source.kind``, loaded lazily (like pyiceberg's catalogs).

Built-in kinds are listed below; other packages add theirs with ``register_source`` or an
entry point in the ``lakesmith.sources`` group (``kind = "package.module"``). A module
whose optional library is missing fails with the pip command that installs it.
"""

from __future__ import annotations

import difflib
import importlib
from importlib.metadata import entry_points
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

from lakesmith.core.errors import ContractError

if TYPE_CHECKING:
    from lakesmith.contracts.model import SourceSpec
    from lakesmith.sources.base import Source, SourceContext

# kind → (module, pip extra that brings its library, or None when always installed)
_KINDS: dict[str, tuple[str, str | None]] = {
    "kafka": ("lakesmith.sources.kafka", None),
    "file": ("lakesmith.sources.file", None),
}


def register_source(kind: str, module: str, extra: str | None = None) -> None:
    """Register (or replace) the module implementing ``kind``."""
    _KINDS[kind] = (module, extra)


def known_kinds() -> list[str]:
    _load_entry_points()
    return sorted(_KINDS)


def _load_entry_points() -> None:
    for ep in entry_points(group="lakesmith.sources"):
        _KINDS.setdefault(ep.name, (ep.value, None))


def _module(kind: str) -> ModuleType:
    if kind not in _KINDS:
        _load_entry_points()
    if kind not in _KINDS:
        close = difflib.get_close_matches(kind, _KINDS, n=1)
        raise ContractError(
            f"unknown source kind {kind!r}" + (f" (did you mean {close[0]!r}?)" if close else ""),
            hint=f"use one of: {', '.join(sorted(_KINDS))}, or register a source module",
        )
    module, extra = _KINDS[kind]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            raise
        pkg = f"lakesmith[{extra}]" if extra else exc.name
        raise ContractError(
            f"source kind {kind!r} needs the Python package {exc.name!r}, which is not installed",
            hint=f"pip install '{pkg}'",
        ) from None


def spec_class(kind: str) -> type[SourceSpec]:
    return cast("type[SourceSpec]", _module(kind).SPEC)


def parse_spec(data: Any) -> SourceSpec:
    """The contract's ``source`` section as the spec model of its kind."""
    from lakesmith.contracts.model import SourceSpec

    if isinstance(data, SourceSpec):
        return data
    if not isinstance(data, dict) or "kind" not in data:
        raise ValueError(f"source needs a 'kind' (one of: {', '.join(known_kinds())})")
    try:
        cls = spec_class(str(data["kind"]))
    except ContractError as exc:
        raise ValueError(str(exc)) from None
    return cls.model_validate(data)


def open_source(context: SourceContext) -> Source:
    """Build the source the contract names."""
    kind = context.contract.source.kind
    source: Source = _module(kind).SOURCE(context)
    return source
