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
    assert row == ("music_0003",)


def _primary_key(settings: Settings, schema: str, table: str) -> list[str]:
    with connect(settings) as conn:
        rows = conn.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
            " AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary"
            " ORDER BY array_position(i.indkey::int2[], a.attnum)",
            (f'"{schema}".{table}',),
        ).fetchall()
    return [r[0] for r in rows]


def test_level_events_keyed_by_user_and_time_after_upgrading_rows(
    stack_settings: Settings,
) -> None:
    """music_0003 re-keys an existing user_level_events (rows kept): one index, the one
    the merge reads through; a replayed row still conflicts, a new one does not."""
    from alembic import command

    from lakesmith.stores.warehouse import alembic_config

    schema = f"w_{uuid.uuid4().hex[:8]}"
    command.upgrade(alembic_config(stack_settings, schema), "music_0002")
    table = f'"{schema}".user_level_events'
    insert = f"INSERT INTO {table} VALUES (%s, %s, '2025-01-01T00:00:00Z', 'free')"
    with connect(stack_settings) as conn:
        conn.execute(insert, ("a:1", 7))
        conn.commit()
    upgrade(stack_settings, "music", schema)
    assert _primary_key(stack_settings, schema, "user_level_events") == [
        "user_id", "ts", "event_key",
    ]  # fmt: skip
    with connect(stack_settings) as conn:
        indexes = conn.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = %s"
            " AND tablename = 'user_level_events'",
            (schema,),
        ).fetchall()
        assert [r[0] for r in indexes] == ["user_level_events_pkey"]
        conn.execute(insert, ("a:2", 7))  # another event of the same user: new
        with pytest.raises(Exception, match="duplicate key"):
            conn.execute(insert, ("a:1", 7))  # the same record again: a conflict
        conn.rollback()
        rows = conn.execute(f"SELECT event_key, user_id FROM {table}").fetchall()
    assert rows == [("a:1", 7)]  # the upgrade kept the row; the rollback dropped a:2


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
