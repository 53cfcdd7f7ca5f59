"""The gold warehouse's schema: Alembic migrations from an empty database match the
SQLModel classes (an ``alembic check`` without a diff), and a worker creates the schema
when it is missing."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from lakesmith.config import Settings
from lakesmith.domains.music.gold import MODEL
from lakesmith.pipeline.dataset import Dataset
from lakesmith.stores.postgres import connect
from lakesmith.stores.warehouse import schema_diff, upgrade
from lakesmith.testing.pipeline import unique_contract

pytestmark = pytest.mark.integration

TABLES = [t.name for t in MODEL.tables]


def _tables(settings: Settings, schema: str) -> set[str]:
    with connect(settings) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
        ).fetchall()
        views = conn.execute(
            "SELECT matviewname FROM pg_matviews WHERE schemaname = %s", (schema,)
        ).fetchall()
    return {r[0] for r in rows} | {r[0] for r in views}


def test_upgrade_from_empty_then_no_diff(stack_settings: Settings) -> None:
    schema = f"w_{uuid.uuid4().hex[:8]}"
    upgrade(stack_settings, "music", schema)
    found = _tables(stack_settings, schema)
    assert set(TABLES) | set(MODEL.marts) | {"alembic_version"} <= found
    assert schema_diff(stack_settings, schema, TABLES) == []
    upgrade(stack_settings, "music", schema)  # at head already: nothing to do
    with connect(stack_settings) as conn:
        row = conn.execute(f'SELECT version_num FROM "{schema}".alembic_version').fetchone()
    assert row == ("music_0002",)


def test_diff_is_found_when_the_schema_drifts(stack_settings: Settings) -> None:
    schema = f"w_{uuid.uuid4().hex[:8]}"
    upgrade(stack_settings, "music", schema)
    with connect(stack_settings) as conn:
        conn.execute(f'ALTER TABLE "{schema}".dim_song DROP COLUMN duration_s')
        conn.commit()
    diff = schema_diff(stack_settings, schema, TABLES)
    assert any("duration_s" in str(d) for d in diff)


def test_worker_creates_missing_schema(stack_settings: Settings, tmp_path: Path) -> None:
    schema = f"w_{uuid.uuid4().hex[:8]}"
    contract, _ = unique_contract(
        tmp_path,
        "music.events",
        source={"kind": "file", "path": str(tmp_path / "none.jsonl")},
        gold={"model": "music", "namespace": schema, "lake": False},
    )
    assert not _tables(stack_settings, schema)
    Dataset(stack_settings, contract).ensure().close()
    assert set(TABLES) <= _tables(stack_settings, schema)
    with connect(stack_settings) as conn:
        row = conn.execute(f'SELECT count(*) FROM "{schema}".dim_date').fetchone()
    assert row is not None and row[0] > 14_000
