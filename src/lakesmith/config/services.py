"""Settings of the services lakesmith talks to: the no-Docker local stack, and PostgreSQL,
the Kafka broker, Typesense and S3 (local when their URL is unset)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from lakesmith.config.fields import (
    URL_SCHEME,
    Port,
    Section,
    check_bootstrap,
    check_http_url,
)

Service = Literal["postgres", "kafka", "typesense", "s3"]
_ALL_SERVICES: tuple[Service, ...] = ("postgres", "s3", "kafka", "typesense")  # start order


class LocalSettings(Section):
    """The no-Docker local stack (``lakesmith local up``)."""

    host: str = "127.0.0.1"
    postgres_port: Port = Field(54329, ge=1, le=65535)
    kafka_port: Port = Field(19092, ge=1, le=65535)
    typesense_port: Port = Field(18108, ge=1, le=65535)
    typesense_peering_port: Port = Field(18107, ge=1, le=65535)
    s3_port: Port = Field(19000, ge=1, le=65535)
    kafka_storage: str = Field(
        "s3://tansu/",
        description="Tansu storage engine: s3://BUCKET/ on the S3 server (topics survive "
        "restarts when it is the persistent local one) or memory://tansu/ (lost on stop)",
    )
    s3_persist: bool = Field(
        True,
        description="keep the local S3 server's buckets and objects in its data dir across "
        "restarts (false: in memory only)",
    )
    pg_bin_dir: Path | None = Field(
        None,
        description="folder with initdb/postgres; found on PATH or /usr/lib/postgresql when unset",
    )
    start_timeout_s: float = Field(60.0, gt=0)
    services: list[Service] = Field(default_factory=lambda: list(_ALL_SERVICES))

    @field_validator("kafka_storage")
    @classmethod
    def _storage(cls, v: str) -> str:
        if not URL_SCHEME.match(v) or v.startswith("s3:///"):
            raise ValueError("expected a storage URL: memory://tansu/ or s3://BUCKET/")
        return v


class PostgresSettings(Section):
    dsn: SecretStr | None = Field(
        None, description="postgresql://user:pass@host:port/db; local when unset"
    )
    database: str = "lakesmith"
    user: str = "lakesmith"


class KafkaSettings(Section):
    bootstrap_servers: str | None = Field(
        None, description="host:port[,host:port]; local when unset"
    )
    session_timeout_ms: int = Field(6000, ge=1000)
    connect_timeout_s: float = Field(
        5.0,
        gt=0,
        description="how long a command waits for the brokers' first answer before it "
        "reports them unreachable",
    )
    extra: dict[str, str] = Field(
        default_factory=dict,
        description="extra librdkafka properties (security.protocol, sasl.*, …)",
    )

    @field_validator("bootstrap_servers")
    @classmethod
    def _servers(cls, v: str | None) -> str | None:
        return None if v is None else check_bootstrap(v)


class TypesenseSettings(Section):
    url: str | None = Field(None, description="http(s)://host:port; local when unset")
    api_key: SecretStr | None = Field(None, description="generated into the state dir when unset")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return None if v is None else check_http_url(v)


class S3Settings(Section):
    endpoint_url: str | None = Field(None, description="S3-compatible endpoint; local when unset")
    region: str = "us-east-1"
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None

    @field_validator("endpoint_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return None if v is None else check_http_url(v)
