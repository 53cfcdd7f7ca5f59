"""``Settings``: every section together, read from the environment and the config file,
with the ``effective_*`` helpers that resolve an unset connection URL to the local stack."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import quote

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from lakesmith.config.api import ApiSettings
from lakesmith.config.discovery import ENV_PREFIX, config_file, default_state_dir
from lakesmith.config.pipeline import LakeSettings, WorkerSettings
from lakesmith.config.schedule import ScheduleSettings
from lakesmith.config.search import SearchSettings
from lakesmith.config.services import (
    KafkaSettings,
    LocalSettings,
    PostgresSettings,
    S3Settings,
    TypesenseSettings,
)
from lakesmith.core.secrets import get_or_create_secret


class Settings(BaseSettings):
    """All of lakesmith's configuration."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    state_dir: Path = Field(
        default_factory=default_state_dir,
        description="data, logs, pids and secrets; default: .lakesmith in the nearest folder "
        "upwards holding lakesmith.toml or .lakesmith/, else ./.lakesmith",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    local: LocalSettings = LocalSettings()
    postgres: PostgresSettings = PostgresSettings()
    kafka: KafkaSettings = KafkaSettings()
    typesense: TypesenseSettings = TypesenseSettings()
    s3: S3Settings = S3Settings()
    lake: LakeSettings = LakeSettings()
    worker: WorkerSettings = WorkerSettings()
    api: ApiSettings = ApiSettings()
    search: SearchSettings = SearchSettings()
    schedule: ScheduleSettings = ScheduleSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # load_settings has already rejected a LAKESMITH_CONFIG naming no file
        toml_file = config_file(strict=False)
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file))

    def state_exists(self) -> bool:
        """Whether the state dir exists: false means no ``lakesmith local up`` (nor any other
        command that keeps state) ever ran for this project/state dir."""
        return self.state_dir.is_dir()

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

    def effective_s3_credentials(self) -> tuple[str, str] | None:
        """The keys to send, or ``None``: let the AWS SDK find them (its default chain —
        environment, profile, ECS task role, EKS IRSA, instance profile). Keys win when
        both are set; the local server (no ``s3.endpoint_url``) gets placeholders."""
        key = self.s3.access_key_id
        secret = self.s3.secret_access_key
        if key is not None and secret is not None:
            return key.get_secret_value(), secret.get_secret_value()
        if self.s3.endpoint_url is not None:
            return None
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

    def lake_glue_options(self) -> dict[str, str]:
        """pyiceberg ``GlueCatalog`` properties (``lake.catalog = "glue"``): the region,
        endpoint and credentials of ``[s3]`` (none: the SDK's default chain)."""
        options = {"glue.region": self.s3.region}
        endpoint = self.lake.glue_endpoint_url or (
            None if self.s3.endpoint_url else self.effective_s3_endpoint()
        )
        if endpoint:
            options["glue.endpoint"] = endpoint
        credentials = self.effective_s3_credentials()
        if credentials is not None:
            options["glue.access-key-id"], options["glue.secret-access-key"] = credentials
        return options

    def lake_s3_options(self) -> dict[str, str]:
        """Endpoint, region and credentials for a warehouse on S3 (local server when unset;
        no ``access_key_id``/``secret_access_key`` entries: the SDK's default chain)."""
        options = {"endpoint": self.effective_s3_endpoint(), "region": self.s3.region}
        credentials = self.effective_s3_credentials()
        if credentials is not None:
            options["access_key_id"], options["secret_access_key"] = credentials
        return options
