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

The package: ``discovery`` (project folder, config file, state dir), ``fields`` (section
base, value checks), ``services`` and ``pipeline`` (the sections), ``settings``
(``Settings``), ``errors`` (one-line problems) and ``loading`` (``load_settings``).
"""

from __future__ import annotations

from lakesmith.config.discovery import (
    CONFIG_ENV,
    DEFAULT_CONFIG_FILE,
    ENV_PREFIX,
    NO_CONFIG,
    STATE_DIR_NAME,
    config_file,
    default_state_dir,
    find_project_root,
)
from lakesmith.config.errors import SettingPath, env_name
from lakesmith.config.fields import Port
from lakesmith.config.loading import load_settings
from lakesmith.config.pipeline import LakeSettings, WorkerSettings
from lakesmith.config.services import (
    KafkaSettings,
    LocalSettings,
    PostgresSettings,
    S3Settings,
    TypesenseSettings,
)
from lakesmith.config.settings import Settings

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG_FILE",
    "ENV_PREFIX",
    "NO_CONFIG",
    "STATE_DIR_NAME",
    "KafkaSettings",
    "LakeSettings",
    "LocalSettings",
    "Port",
    "PostgresSettings",
    "S3Settings",
    "SettingPath",
    "Settings",
    "TypesenseSettings",
    "WorkerSettings",
    "config_file",
    "default_state_dir",
    "env_name",
    "find_project_root",
    "load_settings",
]
