"""Settings of how data is processed: the lake tables (format, catalog, warehouse, commit
cadence) and the streaming worker (``lakesmith run``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from lakesmith.config.fields import (
    URL_SCHEME,
    Section,
    check_duration,
    check_http_url,
    check_warehouse,
)


class LakeSettings(Section):
    format: Literal["iceberg", "delta"] = Field(
        "iceberg", description="table format of datasets whose contract does not choose one"
    )
    catalog: Literal["sqlite", "postgres", "glue"] = Field(
        "sqlite",
        description="Iceberg catalog: SQL in SQLite (state dir) or lakesmith's PostgreSQL, or "
        "the AWS Glue Data Catalog (Athena reads its tables; [s3] region and credentials)",
    )
    catalog_uri: str | None = Field(
        None,
        description="SQLAlchemy URI of the Iceberg SQL catalog; overrides sqlite/postgres",
    )
    glue_endpoint_url: str | None = Field(
        None,
        description="Glue endpoint (lake.catalog = glue): AWS's by default, the local S3 "
        "server's when s3.endpoint_url is unset (it serves Glue too)",
    )
    warehouse: str | None = Field(
        None,
        description="warehouse location: a folder, file:// or s3://bucket/prefix; "
        "state_dir/warehouse when unset",
    )
    catalog_name: str = "lakesmith"
    commit_interval_s: float = Field(
        60.0,
        gt=0,
        description="a lake table commits at least this often while rows arrive; slower "
        "streams collect rows between commits (one file a minute, not one a batch)",
    )
    commit_rows: int | None = Field(
        None, ge=1, description="commit as soon as this many rows are held (default: a batch)"
    )
    compact_every_commits: int = Field(
        100,
        ge=0,
        description="a worker compacts a table after this many of its small commits (less "
        "than a full batch, i.e. a trickle's) to files of up to 16 MiB (0: never)",
    )
    commit_lock: Literal["postgres", "none"] = Field(
        "postgres",
        description="serialise each table's commits across workers with a PostgreSQL "
        "advisory lock (postgres), or let them race optimistically and retry (none)",
    )

    @field_validator("warehouse")
    @classmethod
    def _warehouse(cls, v: str | None) -> str | None:
        return None if v is None else check_warehouse(v)

    @field_validator("glue_endpoint_url")
    @classmethod
    def _glue_endpoint(cls, v: str | None) -> str | None:
        return None if v is None else check_http_url(v)

    @field_validator("catalog_uri")
    @classmethod
    def _catalog_uri(cls, v: str | None) -> str | None:
        if v is not None and not URL_SCHEME.match(v):
            raise ValueError(
                "expected a SQLAlchemy URI such as sqlite:////path/catalog.db or "
                "postgresql+psycopg://user:password@host:port/db"
            )
        return v


class WorkerSettings(Section):
    """The streaming worker (``lakesmith run``)."""

    batch_size: int = Field(100_000, ge=1, description="max records per micro-batch")
    max_wait_s: float = Field(2.0, gt=0, description="max time to gather a batch (commit interval)")
    trim_above_mib: int = Field(
        640,
        ge=0,
        description="hand freed memory back to the system after a batch that leaves more "
        "than this resident (MiB), and every 8 batches; 0: after every batch (lowest peak, "
        "~8 % fewer events/s)",
    )
    idle_timeout_s: float = Field(
        5.0, gt=0, description="--until-idle: stop after this long with no lag"
    )
    assign_timeout_s: float = Field(
        60.0,
        gt=0,
        description="--until-idle: give up (exit non-zero) when no share of the source is "
        "assigned this long while data waits",
    )
    dedupe_window: str = Field(
        "2d", description="event-time window of natural keys primed from silver (30s, 5m, 2h, 7d)"
    )
    retry_for_s: float = Field(
        300.0,
        gt=0,
        description="how long a write keeps retrying while PostgreSQL, the broker or the S3 "
        "server is unreachable before the worker exits non-zero",
    )
    metrics_host: str = Field(
        "127.0.0.1",
        description="interface --metrics-port binds (0.0.0.0 in a container, so Prometheus "
        "can scrape it)",
    )

    @field_validator("dedupe_window")
    @classmethod
    def _duration(cls, v: str) -> str:
        return check_duration(v)
