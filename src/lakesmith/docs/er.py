"""The warehouse star schemas as Mermaid ``erDiagram``s, one per warehouse schema, from the
SQLModel metadata (``stores/warehouse_<model>.py``, the classes Alembic migrates).

Which tables belong to which schema comes from the gold model registries (the API's
``warehouse_models``: a model's schema, and the model's ``tables``). Primary keys are the
metadata's. The warehouse declares no foreign-key constraints (the loads keep the keys,
see ``stores.warehouse_music``); a relationship is drawn for every declared foreign key
and, by the naming rule the gold models follow, for a ``*_key`` column that equals another
table's single-column primary key or ends with ``_<that key>`` (role-playing dates:
``opened_date_key`` → ``dim_date.date_key``). The cardinality's "zero or one" side marks
a nullable key.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Any

from lakesmith.config import Settings


@dataclass(frozen=True)
class Relationship:
    parent: str  # the referenced table (the dimension)
    child: str  # the referencing table
    column: str
    nullable: bool
    declared: bool  # a foreign-key constraint exists (else: by the naming rule)


@dataclass(frozen=True)
class ErSchema:
    schema: str
    model: str
    tables: tuple[Any, ...]  # sqlalchemy Table objects, in the model's order
    relationships: tuple[Relationship, ...]
    marts: tuple[str, ...]


def load_warehouse_metadata() -> Any:
    """``SQLModel.metadata`` with every ``stores/warehouse_*`` module's classes (as the
    Alembic environment loads them)."""
    import lakesmith.stores

    for module in pkgutil.iter_modules(lakesmith.stores.__path__):
        if module.name.startswith("warehouse_") and not module.ispkg:
            importlib.import_module(f"lakesmith.stores.{module.name}")
    from sqlmodel import SQLModel

    return SQLModel.metadata


def _single_pk(table: Any) -> str | None:
    cols = [c.name for c in table.primary_key.columns]
    return cols[0] if len(cols) == 1 else None


def relationships(tables: list[Any]) -> list[Relationship]:
    """Declared foreign keys, then the ``*_key`` naming rule, within one schema."""
    by_name = {t.name: t for t in tables}
    pks = {pk: t.name for t in tables if (pk := _single_pk(t)) is not None}
    out: list[Relationship] = []
    for t in tables:
        declared = {
            fk.parent.name: fk.column.table.name
            for fk in t.foreign_keys
            if fk.column.table.name in by_name
        }
        for col in t.columns:
            parent = declared.get(col.name)
            if parent is None and col.name.endswith("_key") and col.name != _single_pk(t):
                parent = pks.get(col.name)
                if parent is None:  # role-playing: the longest primary key it ends with
                    ends = [pk for pk in pks if col.name.endswith(f"_{pk}")]
                    parent = pks[max(ends, key=len)] if ends else None
            if parent is not None and parent != t.name:
                out.append(
                    Relationship(parent, t.name, col.name, bool(col.nullable), col.name in declared)
                )
    return out


def er_schemas(settings: Settings) -> list[ErSchema]:
    """One entry per warehouse schema (sorted by name)."""
    from lakesmith.api.services.gold import load_any_model, warehouse_models

    metadata = load_warehouse_metadata()
    out = []
    for model_name, schema in sorted(warehouse_models(settings).items(), key=lambda kv: kv[1]):
        model = load_any_model(model_name)
        tables = [metadata.tables[t.name] for t in model.tables if t.name in metadata.tables]
        out.append(
            ErSchema(
                schema, model_name, tuple(tables), tuple(relationships(tables)), tuple(model.marts)
            )
        )
    return out


def column_type(col: Any) -> str:
    """A one-word SQL type for Mermaid (``timestamptz``, ``bigint``, ``text`` …)."""
    import sqlalchemy as sa

    t = col.type
    if isinstance(t, sa.DateTime):
        return "timestamptz" if t.timezone else "timestamp"
    if isinstance(t, sa.BigInteger):
        return "bigint"
    if isinstance(t, sa.Integer):
        return "integer"
    if isinstance(t, sa.Double | sa.Float):
        return "double"
    if isinstance(t, sa.Boolean):
        return "boolean"
    if isinstance(t, sa.Date):
        return "date"
    if isinstance(t, sa.Text | sa.String):
        return "text"
    return type(t).__name__.lower()


def _comment(text: str | None) -> str:
    clean = " ".join((text or "").replace('"', "'").split())
    return f' "{clean}"' if clean else ""


def render_er(schema: ErSchema) -> list[str]:
    """The lines of the Mermaid ``erDiagram`` of one schema (relationships, then entities)."""
    fk_columns = {(r.child, r.column) for r in schema.relationships}
    lines = []
    for r in schema.relationships:
        parent_side = "|o" if r.nullable else "||"
        how = "FK" if r.declared else "key"
        lines.append(f'{r.parent} {parent_side}--o{{ {r.child} : "{r.column} ({how})"')
    for t in schema.tables:
        lines.append(f"{t.name} {{")
        for col in t.columns:
            is_fk = (t.name, col.name) in fk_columns
            marks = [m for m, on in (("PK", col.primary_key), ("FK", is_fk)) if on]
            mark = f" {', '.join(marks)}" if marks else ""
            lines.append(f"    {column_type(col)} {col.name}{mark}{_comment(col.comment)}")
        lines.append("}")
    return lines
