"""The schema registry (SCH-2): every schema version of every dataset, with when and where
it first appeared. Stored in PostgreSQL (``lakesmith.schema_versions``, created with the
other bookkeeping tables by ``stores.meta``), so it lives under ``stores/`` with the rest of
lakesmith's SQL; the contract says what a version's fields are."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from lakesmith.contracts.model import Contract


@dataclass(frozen=True)
class SchemaVersion:
    dataset: str
    version: int
    fields: list[dict[str, Any]]
    first_seen_at: datetime
    first_source: str | None


class SchemaRegistry:
    def __init__(self, conn: psycopg.Connection[Any], contract: Contract) -> None:
        self.conn = conn
        self.contract = contract
        self._known: set[int] | None = None

    def versions(self) -> list[SchemaVersion]:
        rows = self.conn.execute(
            "SELECT dataset, version, fields, first_seen_at, first_source FROM lakesmith.schema_versions "
            "WHERE dataset = %s ORDER BY version",
            (self.contract.name,),
        ).fetchall()
        self.conn.commit()
        return [SchemaVersion(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    def known(self) -> set[int]:
        if self._known is None:
            self._known = {v.version for v in self.versions()}
        return self._known

    def record(self, version: int, seen_at: datetime, source: str | None) -> bool:
        """Record ``version`` if new; returns True when this call registered it."""
        if version in self.known():
            return False
        fields = [f.model_dump(exclude_defaults=True) for f in self.contract.fields_at(version)]
        with self.conn.transaction():
            cur = self.conn.execute(
                "INSERT INTO lakesmith.schema_versions (dataset, version, fields, first_seen_at, first_source) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (self.contract.name, version, json.dumps(fields), seen_at, source),
            )
        self.known().add(version)
        return cur.rowcount == 1
