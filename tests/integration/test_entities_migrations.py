"""The entities branch of the warehouse migrations: ``entities_0002`` (the gold filter
index on ``dim_device``) upgrades a schema already at ``entities_0001`` holding data,
matches the SQLModel classes, is what PostgreSQL uses for the API's query, and
downgrades."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from lakesmith.config import Settings
from lakesmith.stores.postgres import connect
from lakesmith.stores.warehouse import alembic_config, schema_diff, upgrade

pytestmark = pytest.mark.integration

INDEX = "dim_device_status_install_date"
# what GET /v1/gold/entities.dim_device?status=active&install_date__gte=…&sort=-install_date
# &limit=20&columns=device_id,status,install_date sends (stores/gold_repository.rows:
# DESC/ASC NULLS LAST, the primary key appended, limit + 1)
API_QUERY = (
    'SELECT "device_id", "status", "install_date" FROM "{schema}"."dim_device" '
    "WHERE \"status\" = 'active' AND \"install_date\" >= '2023-05-01T00:00:00Z' "
    'ORDER BY "install_date" DESC NULLS LAST, "device_key" ASC NULLS LAST LIMIT 21 OFFSET 0'
)


@pytest.fixture
def schema(stack_settings: Settings) -> Iterator[str]:
    name = f"e_{uuid.uuid4().hex[:8]}"
    yield name
    with connect(stack_settings) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        conn.commit()


def _version(settings: Settings, schema: str) -> str:
    with connect(settings) as conn:
        row = conn.execute(f'SELECT version_num FROM "{schema}".alembic_version').fetchone()
    assert row is not None
    return str(row[0])


def _indexdef(settings: Settings, schema: str) -> str | None:
    with connect(settings) as conn:
        row = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND indexname = %s",
            (schema, INDEX),
        ).fetchone()
    return None if row is None else str(row[0])


def test_upgrade_from_0001_with_data_then_downgrade(stack_settings: Settings, schema: str) -> None:
    from alembic import command

    command.upgrade(alembic_config(stack_settings, schema), "entities_0001")
    assert _indexdef(stack_settings, schema) is None
    with connect(stack_settings) as conn:  # 20,000 devices already in the table
        conn.execute(
            f'INSERT INTO "{schema}".dim_device (device_key, device_id, model, site, '
            "install_date, install_date_key, status, updated_at) "
            "SELECT g, 'sensor-' || g, 'M-1', 'S-1', "
            "timestamptz '2020-01-01' + (g * 7919 % 2000) * interval '1 day', 20200101, "
            "(ARRAY['active','active','maintenance','offline','retired'])[1 + g % 5], now() "
            "FROM generate_series(1, 20000) g"
        )
        conn.commit()

    upgrade(stack_settings, "entities", schema)  # what the API and the workers run on start
    assert _version(stack_settings, schema) == "entities_0002"
    indexdef = _indexdef(stack_settings, schema)
    assert indexdef is not None
    assert "(status, install_date DESC NULLS LAST, device_key)" in indexdef
    assert schema_diff(stack_settings, schema, ["dim_device"]) == []
    with connect(stack_settings) as conn:
        assert conn.execute(f'SELECT count(*) FROM "{schema}".dim_device').fetchone() == (20000,)
        conn.execute(f'ANALYZE "{schema}".dim_device')
        plan = "\n".join(
            r[0] for r in conn.execute("EXPLAIN " + API_QUERY.format(schema=schema)).fetchall()
        )
        rows = conn.execute(API_QUERY.format(schema=schema)).fetchall()
    # the first 21 entries of one index range: no scan of the table, no sort
    assert f"Index Scan using {INDEX}" in plan, plan
    assert "Sort" not in plan, plan
    assert len(rows) == 21
    assert all(r[1] == "active" for r in rows)
    assert [r[2] for r in rows] == sorted((r[2] for r in rows), reverse=True)

    command.downgrade(alembic_config(stack_settings, schema), "entities_0001")
    assert _indexdef(stack_settings, schema) is None
    assert _version(stack_settings, schema) == "entities_0001"
    upgrade(stack_settings, "entities", schema)
    assert _indexdef(stack_settings, schema) is not None
