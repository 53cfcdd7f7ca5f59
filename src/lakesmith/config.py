"""One ``Settings`` object for the whole of lakesmith.

Sources, highest priority first:

1. environment variables ``LAKESMITH__SECTION__KEY`` (e.g. ``LAKESMITH__LOCAL__POSTGRES_PORT=6543``)
2. ``lakesmith.toml`` in the working directory (or the file named by ``LAKESMITH_CONFIG``)
3. the defaults below, which run everything on the local no-Docker stack

Where a connection URL is unset (``postgres.dsn``, ``kafka.bootstrap_servers``, …) the
service started by ``lakesmith local up`` is used; set the URL to point at real
infrastructure instead. The ``effective_*`` helpers resolve that choice in one place.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from lakesmith.core.errors import ConfigError
from lakesmith.core.secrets import get_or_create_secret

ENV_PREFIX = "LAKESMITH__"
CONFIG_ENV = "LAKESMITH_CONFIG"
DEFAULT_CONFIG_FILE = "lakesmith.toml"

Port = int  # validated by Field(ge=1, le=65535) where used


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LocalSettings(_Section):
    """The no-Docker local stack (``lakesmith local up``)."""

    host: str = "127.0.0.1"
    postgres_port: Port = Field(54329, ge=1, le=65535)
    kafka_port: Port = Field(19092, ge=1, le=65535)
    typesense_port: Port = Field(18108, ge=1, le=65535)
    typesense_peering_port: Port = Field(18107, ge=1, le=65535)
    s3_port: Port = Field(19000, ge=1, le=65535)
    kafka_storage: str = Field(
        "memory://tansu/",
        description="Tansu storage engine: memory://tansu/ or s3://BUCKET/ on the local S3 server",
    )
    pg_bin_dir: Path | None = Field(
        None,
        description="folder with initdb/postgres; found on PATH or /usr/lib/postgresql when unset",
    )
    start_timeout_s: float = Field(60.0, gt=0)
    services: list[Literal["postgres", "kafka", "typesense", "s3"]] = [
        "postgres",
        "s3",
        "kafka",
        "typesense",
    ]


class PostgresSettings(_Section):
    dsn: SecretStr | None = Field(
        None, description="postgresql://user:pass@host:port/db; local when unset"
    )
    database: str = "lakesmith"
    user: str = "lakesmith"


class KafkaSettings(_Section):
    bootstrap_servers: str | None = Field(
        None, description="host:port[,host:port]; local when unset"
    )
    session_timeout_ms: int = Field(6000, ge=1000)
    extra: dict[str, str] = Field(
        default_factory=dict,
        description="extra librdkafka properties (security.protocol, sasl.*, …)",
    )


class TypesenseSettings(_Section):
    url: str | None = Field(None, description="http(s)://host:port; local when unset")
    api_key: SecretStr | None = Field(None, description="generated into the state dir when unset")


class S3Settings(_Section):
    endpoint_url: str | None = Field(None, description="S3-compatible endpoint; local when unset")
    region: str = "us-east-1"
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None


class LakeSettings(_Section):
    format: Literal["iceberg", "delta"] = Field(
        "iceberg", description="table format of datasets whose contract does not choose one"
    )
    catalog: Literal["sqlite", "postgres"] = Field(
        "sqlite",
        description="Iceberg SQL catalog: SQLite in the state dir, or lakesmith's PostgreSQL",
    )
    catalog_uri: str | None = Field(
        None,
        description="SQLAlchemy URI of the Iceberg SQL catalog; overrides lake.catalog",
    )
    warehouse: str | None = Field(
        None,
        description="warehouse location: a folder, file:// or s3://bucket/prefix; "
        "state_dir/warehouse when unset",
    )
    catalog_name: str = "lakesmith"


class WorkerSettings(_Section):
    """The streaming worker (``lakesmith run``)."""

    batch_size: int = Field(100_000, ge=1, description="max records per micro-batch")
    max_wait_s: float = Field(2.0, gt=0, description="max time to gather a batch (commit interval)")
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
        "2d", description="event-time window of natural keys primed from silver"
    )


class Settings(BaseSettings):
    """All of lakesmith's configuration."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    state_dir: Path = Field(Path(".lakesmith"), description="data, logs, pids and secrets")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    local: LocalSettings = LocalSettings()
    postgres: PostgresSettings = PostgresSettings()
    kafka: KafkaSettings = KafkaSettings()
    typesense: TypesenseSettings = TypesenseSettings()
    s3: S3Settings = S3Settings()
    lake: LakeSettings = LakeSettings()
    worker: WorkerSettings = WorkerSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = Path(os.environ.get(CONFIG_ENV, DEFAULT_CONFIG_FILE))
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file))

    # -- resolved connection settings -------------------------------------------------

    def effective_postgres_dsn(self) -> str:
        if self.postgres.dsn is not None:
            return self.postgres.dsn.get_secret_value()
        password = quote(get_or_create_secret(self.state_dir, "postgres_password"), safe="")
        return (
            f"postgresql://{self.postgres.user}:{password}@{self.local.host}:"
            f"{self.local.postgres_port}/{self.postgres.database}"
        )

    def effective_kafka_bootstrap(self) -> str:
        return self.kafka.bootstrap_servers or f"{self.local.host}:{self.local.kafka_port}"

    def effective_typesense_url(self) -> str:
        return self.typesense.url or f"http://{self.local.host}:{self.local.typesense_port}"

    def effective_typesense_api_key(self) -> str:
        if self.typesense.api_key is not None:
            return self.typesense.api_key.get_secret_value()
        return get_or_create_secret(self.state_dir, "typesense_api_key")

    def effective_s3_endpoint(self) -> str:
        return self.s3.endpoint_url or f"http://{self.local.host}:{self.local.s3_port}"

    def effective_s3_credentials(self) -> tuple[str, str]:
        key = self.s3.access_key_id
        secret = self.s3.secret_access_key
        if key is not None and secret is not None:
            return key.get_secret_value(), secret.get_secret_value()
        # moto accepts any credentials; these are placeholders, not secrets.
        return "lakesmith-local", "lakesmith-local"

    def effective_warehouse(self) -> str:
        """The warehouse as a URI (``file:///…`` or ``s3://…``)."""
        wh = self.lake.warehouse
        if wh is None:
            return (self.state_dir.resolve() / "warehouse").as_uri()
        if "://" in wh:
            return wh.rstrip("/")
        return Path(wh).resolve().as_uri()

    def effective_catalog_uri(self) -> str:
        if self.lake.catalog_uri:
            return self.lake.catalog_uri
        if self.lake.catalog == "postgres":  # SQLAlchemy with the psycopg 3 driver
            return "postgresql+psycopg://" + self.effective_postgres_dsn().split("://", 1)[1]
        return f"sqlite:///{(self.state_dir.resolve() / 'catalog.db')}"

    def lake_s3_options(self) -> dict[str, str]:
        """Endpoint, region and credentials for a warehouse on S3 (local server when unset)."""
        key, secret = self.effective_s3_credentials()
        return {
            "endpoint": self.effective_s3_endpoint(),
            "region": self.s3.region,
            "access_key_id": key,
            "secret_access_key": secret,
        }


def _describe_error(err: dict[str, Any]) -> str:
    key = ".".join(str(p) for p in err.get("loc", ()))
    env = ENV_PREFIX + "__".join(str(p).upper() for p in err.get("loc", ()))
    got = err.get("input")
    shown = "" if isinstance(got, dict) else f" = {got!r}"
    return f"{key}{shown}: {err.get('msg', 'invalid')} (set in {DEFAULT_CONFIG_FILE} or {env})"


def load_settings(**overrides: Any) -> Settings:
    """Build ``Settings`` from env + TOML (+ ``overrides``); raise ``ConfigError`` if invalid."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = [_describe_error(dict(e)) for e in exc.errors()]
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None
    except (OSError, ValueError) as exc:  # unreadable / malformed TOML
        raise ConfigError(f"cannot read configuration: {exc}") from None
