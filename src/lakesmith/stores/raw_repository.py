"""Reads of a dataset's bronze table for the REST API's raw records.

Bronze is append-only: every API write added rows (``sources.api``), so a record's
versions are its rows with the same identity — the message key, or for records that
came in without one (files) their ``_record_id`` — in ingestion order; the newest is the
current one, and it is deleted when it came under a ``…/delete`` (tombstone) stream.
Scans read the envelope columns only; payloads are fetched for the page shown."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from lakesmith.core.columns import INGESTED_AT, KEY, PAYLOAD, RECORD_ID, SEQ, SOURCE, STREAM
from lakesmith.stores.lake import LakeTable

IDENTITY = "id"
VERSION = "version"
DELETED = "deleted"
_INDEX = [RECORD_ID, SOURCE, STREAM, SEQ, KEY, INGESTED_AT]


class RawRepository:
    def __init__(self, bronze: LakeTable) -> None:
        self.bronze = bronze

    def versions(self, identity_path: Sequence[str] | None = None) -> pl.DataFrame:
        """Every version of every record: identity, version number, tombstone flag and the
        envelope, oldest first. The identity is the message key; else the value at
        ``identity_path`` in the JSON payload (the contract's entity key, for records that
        came in from files); else the record id."""
        if not self.bronze.exists():
            return pl.DataFrame(
                schema={
                    IDENTITY: pl.String, VERSION: pl.Int64, DELETED: pl.Boolean,
                    RECORD_ID: pl.String, SOURCE: pl.String, STREAM: pl.String,
                    SEQ: pl.Int64, KEY: pl.String, INGESTED_AT: pl.Datetime("us", "UTC"),
                }
            )  # fmt: skip
        frame = self.bronze.scan(_INDEX + ([PAYLOAD] if identity_path else []))
        parts = [pl.col(KEY)]
        if identity_path:
            json_path = "$" + "".join(f".{p}" for p in identity_path)
            text = pl.col(PAYLOAD).cast(pl.String, strict=False).str.json_path_match(json_path)
            parts.append(text)
        return (
            frame.sort(INGESTED_AT, STREAM, SEQ)
            .with_columns(pl.coalesce(*parts, RECORD_ID).alias(IDENTITY))
            .drop(PAYLOAD, strict=False)
            .with_columns(
                pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over(IDENTITY).alias(VERSION),
                (
                    pl.col(STREAM).str.starts_with("api://")
                    & pl.col(STREAM).str.ends_with("/delete")
                ).alias(DELETED),
            )
        )

    @staticmethod
    def current(versions: pl.DataFrame) -> pl.DataFrame:
        """The newest version of each record (deleted ones included), by first ingestion."""
        first = versions.group_by(IDENTITY).agg(pl.col(INGESTED_AT).min().alias("__first"))
        return (
            versions.group_by(IDENTITY, maintain_order=True)
            .last()
            .join(first, on=IDENTITY)
            .sort("__first", IDENTITY)
            .drop("__first")
        )

    def payloads(self, record_ids: Sequence[str]) -> dict[str, bytes | None]:
        if not record_ids:
            return {}
        rows = self.bronze.scan([RECORD_ID, PAYLOAD], [(RECORD_ID, "in", list(record_ids))])
        return dict(zip(rows[RECORD_ID].to_list(), rows[PAYLOAD].to_list(), strict=True))

    def matching(self, record_ids: Sequence[str], path: Sequence[str], value: str) -> set[str]:
        """Which of ``record_ids`` have ``value`` at JSON ``path`` in their payload."""
        if not record_ids:
            return set()
        rows = self.bronze.scan([RECORD_ID, PAYLOAD], [(RECORD_ID, "in", list(record_ids))])
        json_path = "$" + "".join(f".{p}" for p in path)
        hit = rows.filter(
            pl.col(PAYLOAD).cast(pl.String, strict=False).str.json_path_match(json_path) == value
        )
        return set(hit[RECORD_ID].to_list())
