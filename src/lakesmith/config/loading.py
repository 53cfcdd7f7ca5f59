"""``load_settings``: build ``Settings`` from the environment, the config file and
overrides, reporting every problem at once, one line each."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from lakesmith.config.discovery import config_file
from lakesmith.config.errors import (
    covered,
    describe_error,
    env_var_setting,
    raise_problems,
    unknown_env_settings,
)
from lakesmith.config.settings import Settings
from lakesmith.core.errors import ConfigError


def _resolve_state_dir(
    s: Settings, overrides: Mapping[str, Any], config: Path | None, cwd: Path
) -> Path:
    raw = s.state_dir.expanduser()
    if raw.is_absolute() or "state_dir" not in s.model_fields_set:
        return raw  # the default is absolute already
    if "state_dir" in overrides or env_var_setting(("state_dir",), os.environ) is not None:
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
    unknown = unknown_env_settings(environ)
    problems = [message for _, message in unknown]
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        reported = [path for path, _ in unknown]
        problems += [
            describe_error(e, config, environ)
            for e in exc.errors()
            if not covered(e["loc"], reported)
        ]
        raise_problems(problems)
    except (OSError, ValueError) as exc:  # unreadable / malformed TOML
        raise ConfigError(f"cannot read configuration {config}: {exc}") from None
    if problems:
        raise_problems(problems)
    state_dir = _resolve_state_dir(settings, overrides, config, cwd)
    return settings.model_copy(update={"state_dir": state_dir})
