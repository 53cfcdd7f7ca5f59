"""Gold tables and marts of the warehouse, from the gold model registry
(``lakesmith.gold.registry``): a model registered there is served, no list here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from lakesmith.api.errors import InvalidError, NotFoundError
from lakesmith.api.schemas import Page
from lakesmith.api.services import querying
from lakesmith.config import Settings
from lakesmith.stores.gold_repository import GoldRepository


@dataclass(frozen=True)
class Relation:
    name: str  # as the API names it (``fact_listen``, or ``music.fact_listen`` when shared)
    model: str
    schema: str  # warehouse schema
    table: str
    key: str | None
    kinds: dict[str, str]  # column → type
    order: tuple[str, ...] = ()  # default sort: an index of the table (none: a mart)

    @property
    def default_order(self) -> list[str]:
        """What a page is sorted by when the caller does not say (a mart: every column)."""
        return list(self.order or self.kinds)


def load_any_model(name: str) -> Any:
    """A streaming gold model (``gold.registry``) or a batch one (``gold.batch``): both
    have ``tables`` (``GoldTable``s with their columns) and ``marts``."""
    from lakesmith.gold.batch import BATCH_MODELS, load_batch_model
    from lakesmith.gold.registry import load_model

    return load_batch_model(name) if name in BATCH_MODELS else load_model(name)


def warehouse_models(settings: Settings) -> dict[str, str]:
    """Gold model → its warehouse schema (a built-in contract's ``gold.namespace`` or the
    model's name), for every registered model whose tables go to the warehouse: the
    streaming models of ``gold.registry`` and the batch models of ``gold.batch``."""
    from lakesmith.contracts.loader import builtin_contracts
    from lakesmith.gold.batch import BATCH_MODELS
    from lakesmith.gold.registry import known_models

    schemas = {m: m for m in [*known_models(), *BATCH_MODELS]}
    for contract in builtin_contracts().values():
        spec = contract.gold
        if spec is None:
            continue
        if not spec.warehouse:
            schemas.pop(spec.model, None)
        else:
            schemas[spec.model] = spec.schema_name
    return schemas


class GoldService:
    def __init__(self, settings: Settings, repo: GoldRepository) -> None:
        self.settings = settings
        self.repo = repo

    @cached_property
    def tables(self) -> dict[str, Relation]:
        found: dict[str, list[Relation]] = {}
        for model_name, schema in warehouse_models(self.settings).items():
            model = load_any_model(model_name)
            for t in model.tables:
                kinds = {c.name: c.type for c in t.columns}
                # the load order leads the table's main index (``user_level_events``' key)
                order = (*t.load_order, t.key)
                rel = Relation(t.name, model_name, schema, t.name, t.key, kinds, order)
                found.setdefault(t.name, []).append(rel)
        return _qualify(found)

    @cached_property
    def mart_names(self) -> dict[str, tuple[str, str]]:
        found: dict[str, list[tuple[str, str]]] = {}
        for model_name, schema in warehouse_models(self.settings).items():
            for mart in load_any_model(model_name).marts:
                found.setdefault(mart, []).append((model_name, schema))
        out: dict[str, tuple[str, str]] = {}
        for mart, places in found.items():
            for model_name, schema in places:
                out[mart if len(places) == 1 else f"{model_name}.{mart}"] = (schema, mart)
        return out

    def catalog(self) -> dict[str, Any]:
        return {
            "tables": {
                n: {"model": r.model, "key": r.key, "columns": r.kinds}
                for n, r in sorted(self.tables.items())
            },
            "marts": sorted(self.mart_names),
        }

    def table(self, name: str) -> Relation:
        if name not in self.tables:
            raise NotFoundError(f"no gold table {name!r}; known: {', '.join(sorted(self.tables))}")
        return self.tables[name]

    def mart(self, name: str) -> Relation:
        if name not in self.mart_names:
            raise NotFoundError(f"no mart {name!r}; known: {', '.join(sorted(self.mart_names))}")
        schema, view = self.mart_names[name]
        kinds = self.repo.relation_columns(schema, view)
        if kinds is None:
            raise NotFoundError(f"mart {name!r} is not in the warehouse yet (no data loaded)")
        return Relation(name, "", schema, view, None, kinds)

    def query(self, rel: Relation, params: Sequence[tuple[str, str]], limit: int) -> Page:
        if limit < 1 or limit > self.settings.api.max_page_size:
            raise InvalidError(f"limit must be between 1 and {self.settings.api.max_page_size}")
        args = dict(params)
        known = list(rel.kinds)
        cols = querying.columns(args.get("columns"), known)
        where = querying.conditions(params, rel.kinds)
        order = querying.ordering(args.get("sort"), known, rel.default_order)
        offset = querying.decode_cursor(args.get("cursor"))
        rows = self.repo.rows(rel.schema, rel.table, cols, where, order, limit + 1, offset)
        more = len(rows) > limit
        return Page(
            items=rows[:limit], next_cursor=querying.encode_cursor(offset + limit) if more else None
        )


def _qualify(found: dict[str, list[Relation]]) -> dict[str, Relation]:
    """Names shared by two models are served as ``model.table`` (both spellings else)."""
    out: dict[str, Relation] = {}
    for name, rels in found.items():
        for r in rels:
            qualified = f"{r.model}.{name}"
            out[qualified] = Relation(
                qualified, r.model, r.schema, r.table, r.key, r.kinds, r.order
            )
            if len(rels) == 1:
                out[name] = r
    return out
