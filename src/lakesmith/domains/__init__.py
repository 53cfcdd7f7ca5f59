"""The built-in workloads, one folder per domain, and the registry that plugs them in.

A domain is a folder ``lakesmith/domains/<name>/`` holding its contracts (``*.yaml``,
found by ``contracts.loader``), its generators, and a module that defines
``DOMAIN = Domain(...)``: the ``simulate <name>``, ``demo <name>`` and (a batch
pipeline) ``run <name>`` commands and the demo's example queries. ``DOMAINS`` maps a
domain name to that module's import path; the module is imported only when one of its
commands runs (or its help is shown), so ``lakesmith --help`` stays fast. Adding a domain is a new folder plus one line here;
a third-party package calls ``register_domain`` instead.

Nothing in ``lakesmith.cli`` names a domain: ``cli.simulate``, ``cli.demo`` and
``cli.run`` build their sub-commands from this registry.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from lakesmith.core.errors import LakesmithError

if TYPE_CHECKING:
    from lakesmith.pipeline.dataset import Dataset

DOMAINS: dict[str, str] = {
    "helpdesk": "lakesmith.domains.helpdesk.cli",
    "iot": "lakesmith.domains.iot.cli",
    "music": "lakesmith.domains.music.cli",
    "sales": "lakesmith.domains.sales.cli",
    "entities": "lakesmith.domains.entities.cli",
    "shop": "lakesmith.domains.shop.cli",
}
"""Domain name → import path of the module that defines its ``DOMAIN``."""


class QueryOutput(NamedTuple):
    """What a demo query shows: the query as a reader would write it (printed dimmed),
    then its result — a Rich renderable or anything printable, e.g. a Polars frame."""

    text: str
    result: object


@dataclass(frozen=True)
class DemoQuery:
    """One example query of a domain's demo, run against one dataset's tables."""

    dataset: str
    """Contract name, e.g. ``iot.telemetry``."""
    run: Callable[[Dataset], QueryOutput]


@dataclass(frozen=True)
class Domain:
    """What a domain plugs into the CLI.

    ``simulate`` and ``demo`` are Typer command functions (parameters declared with
    ``typer.Option``; the docstring is the help), registered as ``lakesmith simulate
    <name>`` and ``lakesmith demo <name>``; either may be ``None``.
    """

    name: str
    description: str
    """One line, shown where the domains are listed."""
    contracts: tuple[str, ...] = ()
    """The dataset names the domain ships (its ``*.yaml`` files)."""
    simulate: Callable[..., None] | None = None
    demo: Callable[..., None] | None = None
    ship: Callable[..., None] | None = None
    run: Callable[..., None] | None = None
    """``lakesmith run <name>``: the domain's batch pipeline, a job that ends (the other
    form, ``lakesmith run DATASET``, is a dataset's streaming worker)."""
    """``lakesmith ship <name>``: write the domain's data to its landing place (a bucket)."""
    demo_queries: Sequence[DemoQuery] = ()


def register_domain(name: str, module: str) -> None:
    """Plug in a domain defined outside lakesmith: ``module`` defines ``DOMAIN``.

    Call it before the CLI runs (e.g. from a wrapper script or a ``sitecustomize``)."""
    DOMAINS[name] = module


def load_domain(name: str) -> Domain:
    """Import the registered domain ``name``; a clear error for unknown or broken ones."""
    if name not in DOMAINS:
        raise LakesmithError(
            f"unknown domain {name!r}; known: {', '.join(sorted(DOMAINS)) or 'none'}"
        )
    module = DOMAINS[name]
    try:
        domain = importlib.import_module(module).DOMAIN
    except (ImportError, AttributeError) as exc:
        raise LakesmithError(f"domain {name!r}: cannot load {module}.DOMAIN: {exc}") from None
    if not isinstance(domain, Domain):
        raise LakesmithError(f"domain {name!r}: {module}.DOMAIN is not a lakesmith Domain")
    return domain


__all__ = ["DOMAINS", "DemoQuery", "Domain", "QueryOutput", "load_domain", "register_domain"]
