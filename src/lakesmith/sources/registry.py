"""Sources by the contract's ``source.kind``: ``open_source`` builds the one a contract
names. The kinds and their modules are listed in ``contracts.plugins`` (lazy, with install
hints); ``register_source`` adds one at run time, the ``lakesmith.sources`` entry point
group from another package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lakesmith.contracts.plugins import known_kinds, register_source, source_module

if TYPE_CHECKING:
    from lakesmith.sources.base import Source, SourceContext


def open_source(context: SourceContext) -> Source:
    """Build the source the contract names."""
    source: Source = source_module(context.contract.source.kind).SOURCE(context)
    return source


__all__ = ["known_kinds", "open_source", "register_source"]
