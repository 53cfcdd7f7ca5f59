"""Where the project, its config file and its state are.

The project folder is the first folder, from the working directory upwards, that holds a
``lakesmith.toml`` or an existing ``.lakesmith/`` state dir; the config file is
``LAKESMITH_CONFIG`` when set, else that folder's ``lakesmith.toml``.
"""

from __future__ import annotations

import os
from pathlib import Path

from lakesmith.core.errors import ConfigError

ENV_PREFIX = "LAKESMITH__"
CONFIG_ENV = "LAKESMITH_CONFIG"
NO_CONFIG = "none"  # LAKESMITH_CONFIG=none (or empty): no config file at all
DEFAULT_CONFIG_FILE = "lakesmith.toml"
STATE_DIR_NAME = ".lakesmith"


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
