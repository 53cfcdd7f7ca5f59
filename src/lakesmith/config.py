"""One ``Settings`` object for the whole of lakesmith.

Sources, highest priority first:

1. environment variables ``LAKESMITH__SECTION__KEY`` (e.g. ``LAKESMITH__LOCAL__POSTGRES_PORT=6543``)
2. the config file: ``LAKESMITH_CONFIG`` when set (``none`` or empty: no file), else the
   ``lakesmith.toml`` of the project folder (see below)
3. the defaults below, which run everything on the local no-Docker stack

The project folder is the first folder, from the working directory upwards, that holds a
``lakesmith.toml`` or an existing ``.lakesmith/`` state dir; ``state_dir`` defaults to its
``.lakesmith`` (``./.lakesmith`` when there is none), so a command run from a subfolder finds
the project's state instead of creating a new one. A relative ``state_dir`` is resolved
against the folder of the config file that sets it, or the working directory when it comes
from the environment or ``lakesmith --state-dir``.

``load_settings`` rejects what would otherwise be silently ignored or fail later: unknown
``LAKESMITH__…`` variables and config keys (with the closest valid name), a
``LAKESMITH_CONFIG`` naming no file, durations and URLs that cannot be parsed.

Where a connection URL is unset (``postgres.dsn``, ``kafka.bootstrap_servers``, …) the
service started by ``lakesmith local up`` is used; set the URL to point at real
infrastructure instead. The ``effective_*`` helpers resolve that choice in one place.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, NoReturn, get_origin
from urllib.parse import quote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from lakesmith.contracts.model import parse_duration
from lakesmith.core.errors import ConfigError
from lakesmith.core.secrets import get_or_create_secret

ENV_PREFIX = "LAKESMITH__"
CONFIG_ENV = "LAKESMITH_CONFIG"
NO_CONFIG = "none"  # LAKESMITH_CONFIG=none (or empty): no config file at all
DEFAULT_CONFIG_FILE = "lakesmith.toml"
STATE_DIR_NAME = ".lakesmith"

Port = int  # validated by Field(ge=1, le=65535) where used


# -- where the project, its config file and its state are ---------------------------------


def find_project_root(start: Path | None = None) -> Path | None:
    """The first folder from ``start`` (default: the working directory) upwards that holds a
    ``lakesmith.toml`` or an existing ``.lakesmith/``; ``None`` when no folder does."""
    here = (start or Path.cwd()).absolute()
    for folder in (here, *here.parents):
        if (folder / DEFAULT_CONFIG_FILE).is_file() or (folder / STATE_DIR_NAME).is_dir():
            return folder
    return None


def config_file(start: Path | None = None, *, strict: bool = True) -> Path | None:
    """The config file to read, or ``None`` for none.

    ``LAKESMITH_CONFIG`` when set (``none`` or empty: no file; a missing file is a
    ``ConfigError`` unless ``strict`` is false), else the ``lakesmith.toml`` of the project
    folder found from ``start`` upwards."""
    raw = os.environ.get(CONFIG_ENV)
    if raw is not None:
        if raw.strip().lower() in ("", NO_CONFIG):
            return None
        path = Path(raw).expanduser()
        if path.is_file():
            return path.absolute()
        if not strict:
            return None
        what = "is not a file" if path.exists() else "does not exist"
        raise ConfigError(
            f"{CONFIG_ENV}={raw}: {what}",
            hint=f"point {CONFIG_ENV} at a config file, or set {CONFIG_ENV}={NO_CONFIG} "
            "to use none",
        )
    root = find_project_root(start)
    if root is not None and (root / DEFAULT_CONFIG_FILE).is_file():
        return root / DEFAULT_CONFIG_FILE
    return None


def default_state_dir(start: Path | None = None) -> Path:
    """``.lakesmith`` in the project folder (see ``find_project_root``), else in ``start``."""
    return (find_project_root(start) or (start or Path.cwd()).absolute()) / STATE_DIR_NAME


# -- light checks of values that are parsed later -----------------------------------------

_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_BROKER = re.compile(
    r"^(?:(?:plaintext|ssl|sasl_plaintext|sasl_ssl)://)?"  # librdkafka's optional protocol
    r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$",
    re.IGNORECASE,
)


def _check_duration(value: str) -> str:
    try:
        parse_duration(value)
    except ValueError:
        raise ValueError("expected a duration: 30s, 5m, 2h or 7d") from None
    return value


def _check_http_url(value: str) -> str:
    parts = urlsplit(value)
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise ValueError("expected an http(s)://host[:port] URL")
    return value


def _check_bootstrap(value: str) -> str:
    entries = value.split(",")
    for entry in entries:
        m = _BROKER.match(entry.strip())
        if m is None or not 1 <= int(m.group(1)) <= 65535:
            which = f"{entry.strip()!r} is not host:port; " if len(entries) > 1 else ""
            raise ValueError(
                f"{which}expected host:port[,host:port] (e.g. broker1:9092,broker2:9092)"
            )
    return value


def _check_warehouse(value: str) -> str:
    expected = "expected a folder, file:///absolute/path or s3://bucket[/prefix]"
    if not value.strip():
        raise ValueError(expected)
    if "://" in value:
        parts = urlsplit(value)
        if parts.scheme == "s3" and parts.netloc:
            return value
        if parts.scheme == "file" and parts.netloc in ("", "localhost") and parts.path[:1] == "/":
            return value
        raise ValueError(expected)
    return value


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
    services: list[Literal["postgres", "kafka", "typesense", "s3"]] = [
        "postgres",
        "s3",
        "kafka",
        "typesense",
    ]

    @field_validator("kafka_storage")
    @classmethod
    def _storage(cls, v: str) -> str:
        if not _URL_SCHEME.match(v) or v.startswith("s3:///"):
            raise ValueError("expected a storage URL: memory://tansu/ or s3://BUCKET/")
        return v


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
        return None if v is None else _check_bootstrap(v)


class TypesenseSettings(_Section):
    url: str | None = Field(None, description="http(s)://host:port; local when unset")
    api_key: SecretStr | None = Field(None, description="generated into the state dir when unset")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return None if v is None else _check_http_url(v)


class S3Settings(_Section):
    endpoint_url: str | None = Field(None, description="S3-compatible endpoint; local when unset")
    region: str = "us-east-1"
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None

    @field_validator("endpoint_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return None if v is None else _check_http_url(v)


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
        return None if v is None else _check_warehouse(v)

    @field_validator("catalog_uri")
    @classmethod
    def _catalog_uri(cls, v: str | None) -> str | None:
        if v is not None and not _URL_SCHEME.match(v):
            raise ValueError(
                "expected a SQLAlchemy URI such as sqlite:////path/catalog.db or "
                "postgresql+psycopg://user:password@host:port/db"
            )
        return v


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
        "2d", description="event-time window of natural keys primed from silver (30s, 5m, 2h, 7d)"
    )
    retry_for_s: float = Field(
        300.0,
        gt=0,
        description="how long a write keeps retrying while PostgreSQL, the broker or the S3 "
        "server is unreachable before the worker exits non-zero",
    )

    @field_validator("dedupe_window")
    @classmethod
    def _duration(cls, v: str) -> str:
        return _check_duration(v)


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


# -- load_settings: every problem reported at once, one line each --------------------------


SettingPath = tuple[str, ...]  # ("local", "kafka_port") is local.kafka_port


@functools.cache
def _setting_paths() -> tuple[frozenset[SettingPath], frozenset[SettingPath]]:
    """(every settable path, the dict-valued paths whose keys are free) of ``Settings``."""
    known: set[SettingPath] = set()
    open_: set[SettingPath] = set()

    def walk(model: type[BaseModel], prefix: tuple[str, ...]) -> None:
        for name, field in model.model_fields.items():
            path = (*prefix, name)
            known.add(path)
            ann = field.annotation
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                walk(ann, path)
            elif get_origin(ann) is dict:
                open_.add(path)

    walk(Settings, ())
    return frozenset(known), frozenset(open_)


def _is_known(path: SettingPath) -> bool:
    known, open_ = _setting_paths()
    return path in known or any(path[: len(p)] == p and len(path) > len(p) for p in open_)


def _closest(path: SettingPath, *, section: bool = False) -> SettingPath | None:
    """The valid setting path nearest to ``path`` (difflib), or None if none is close;
    a section name when ``section`` (a TOML table), else a key."""
    known, open_ = _setting_paths()
    sections = {p[:1] for p in known if len(p) > 1}
    best: tuple[float, SettingPath] | None = None
    for cand in sorted(sections if section else known - sections):
        head: SettingPath = path
        rest: SettingPath = ()
        if cand in open_ and len(path) > len(cand):  # keep the keys of a dict setting
            head, rest = path[: len(cand)], path[len(cand) :]
        ratio = difflib.SequenceMatcher(None, "__".join(head), "__".join(cand)).ratio()
        if ratio >= 0.6 and (best is None or ratio > best[0]):
            best = (ratio, (*cand, *rest))
    return None if best is None else best[1]


def env_name(path: SettingPath) -> str:
    """``("local", "kafka_port")`` → ``LAKESMITH__LOCAL__KAFKA_PORT``."""
    return ENV_PREFIX + "__".join(p.upper() for p in path)


def _unknown_env_settings(environ: Mapping[str, str]) -> list[tuple[SettingPath, str]]:
    """(path, message) for each ``LAKESMITH__…`` variable that names no setting."""
    found = []
    for name in sorted(environ):
        if not name.upper().startswith(ENV_PREFIX):
            continue
        path = tuple(name[len(ENV_PREFIX) :].lower().split("__"))
        if _is_known(path):
            continue
        near = _closest(path)
        hint = f" (did you mean {env_name(near)}?)" if near else ""
        found.append((path, f"unknown setting {name}{hint}"))
    return found


def _env_var_setting(path: SettingPath, environ: Mapping[str, str]) -> str | None:
    """The name of the environment variable that sets ``path`` (or its section), if any."""
    names = {k.upper(): k for k in environ}
    for n in range(len(path), 0, -1):
        if env_name(path[:n]) in names:
            return names[env_name(path[:n])]
    return None


_SECRETS = frozenset({"dsn", "api_key", "access_key_id", "secret_access_key"})


def _describe_error(err: Mapping[str, Any], config: Path | None, environ: Mapping[str, str]) -> str:
    """One line for one pydantic error: the key, its value (never a secret's), what is
    expected and where it was set."""
    loc = tuple(str(p) for p in err.get("loc", ()) if not isinstance(p, int))
    key = ".".join(str(p) for p in err.get("loc", ()))
    var = _env_var_setting(loc, environ)
    if var is not None:
        where = f"from {var}"
    elif config is not None:
        where = f"from {config}"
    else:
        where = f"set in {DEFAULT_CONFIG_FILE} or {env_name(loc)}"
    got = err.get("input")
    if err.get("type") == "extra_forbidden":
        near = _closest(loc, section=len(loc) == 1 and isinstance(got, dict))
        hint = f"; did you mean {'.'.join(near)}?" if near else ""
        return f"unknown setting {key} ({where}{hint})"
    secret = bool(loc) and (loc[-1] in _SECRETS or loc[:2] == ("kafka", "extra"))
    shown = "" if isinstance(got, dict) or secret else f" = {got!r}"
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    return f"invalid setting {key}{shown}: {msg} ({where})"


def _covered(loc: tuple[Any, ...], reported: list[SettingPath]) -> bool:
    """Whether an error at ``loc`` follows from an unknown variable already reported."""
    path = tuple(str(p).lower() for p in loc)
    return any(path[: len(r)] == r or r[: len(path)] == path for r in reported)


def _raise(problems: list[str]) -> NoReturn:
    if len(problems) == 1:
        raise ConfigError(problems[0])
    raise ConfigError(f"{len(problems)} configuration problems:\n  " + "\n  ".join(problems))


def _resolve_state_dir(
    s: Settings, overrides: Mapping[str, Any], config: Path | None, cwd: Path
) -> Path:
    raw = s.state_dir.expanduser()
    if raw.is_absolute() or "state_dir" not in s.model_fields_set:
        return raw  # the default is absolute already
    if "state_dir" in overrides or _env_var_setting(("state_dir",), os.environ) is not None:
        return cwd / raw
    return (config.parent if config is not None else cwd) / raw


def load_settings(**overrides: Any) -> Settings:
    """Build ``Settings`` from env + config file (+ ``overrides``, e.g. ``--state-dir``).

    Raises ``ConfigError`` naming every problem, one line each: unknown ``LAKESMITH__…``
    variables and config keys (with the closest valid name), a ``LAKESMITH_CONFIG`` naming
    no file, an unreadable config file and invalid values. ``state_dir`` comes back
    absolute (see the module docstring for how it is found)."""
    cwd = Path.cwd()
    config = config_file(cwd)
    environ = dict(os.environ)
    unknown = _unknown_env_settings(environ)
    problems = [message for _, message in unknown]
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        reported = [path for path, _ in unknown]
        problems += [
            _describe_error(e, config, environ)
            for e in exc.errors()
            if not _covered(e["loc"], reported)
        ]
        _raise(problems)
    except (OSError, ValueError) as exc:  # unreadable / malformed TOML
        raise ConfigError(f"cannot read configuration {config}: {exc}") from None
    if problems:
        _raise(problems)
    state_dir = _resolve_state_dir(settings, overrides, config, cwd)
    return settings.model_copy(update={"state_dir": state_dir})
