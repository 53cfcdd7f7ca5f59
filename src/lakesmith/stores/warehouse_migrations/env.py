"""Alembic environment of the gold warehouse: migrations run with ``search_path`` set to
the target schema (``config.attributes["schema"]``), so the same revision creates a
model's tables in any schema; the version table lives in that schema too. Concurrent
starts take turns through an advisory lock."""

from __future__ import annotations

import importlib
import pkgutil

import sqlalchemy as sa
from alembic import context
from sqlalchemy.pool import NullPool
from sqlmodel import SQLModel

import lakesmith.stores

# every model's SQLModel classes (stores/warehouse_<model>.py) register their tables
for module in pkgutil.iter_modules(lakesmith.stores.__path__):
    if module.name.startswith("warehouse_") and not module.ispkg:
        importlib.import_module(f"lakesmith.stores.{module.name}")

config = context.config
url: str = config.attributes["url"]
schema: str = config.attributes["schema"]

engine = sa.create_engine(
    url, poolclass=NullPool, connect_args={"options": f"-csearch_path={schema}"}
)
lock = sa.text("SELECT pg_advisory_lock(hashtext(:name))")
unlock = sa.text("SELECT pg_advisory_unlock(hashtext(:name))")
name = {"name": f"lakesmith.warehouse:{schema}"}
try:
    with engine.connect() as conn:
        conn.execute(lock, name)
        try:
            conn.execute(sa.schema.CreateSchema(schema, if_not_exists=True))
            conn.commit()
            context.configure(
                connection=conn,
                target_metadata=SQLModel.metadata,
                version_table_schema=schema,
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
            conn.commit()
        finally:
            conn.execute(unlock, name)
            conn.commit()
finally:
    engine.dispose()
