"""The local PostgreSQL with psycopg 3 COPY."""

from __future__ import annotations

import pytest

from lakesmith.config import Settings
from lakesmith.stores.postgres import connect

pytestmark = pytest.mark.integration


def test_copy_100k_rows(stack_settings: Settings) -> None:
    n = 100_000
    with connect(stack_settings) as conn:
        conn.execute("DROP TABLE IF EXISTS copy_probe")
        conn.execute(
            "CREATE TABLE copy_probe (id bigint PRIMARY KEY, name text, value double precision)"
        )
        with conn.cursor() as cur, cur.copy("COPY copy_probe (id, name, value) FROM STDIN") as copy:
            for i in range(n):
                copy.write_row((i, f"row-{i}", i * 0.5))
        conn.commit()
        count, total, name = conn.execute(
            "SELECT count(*), sum(value), max(name) FILTER (WHERE id = 99999) FROM copy_probe"
        ).fetchone() or (None, None, None)
    assert count == n
    assert total == pytest.approx(sum(i * 0.5 for i in range(n)))
    assert name == "row-99999"
