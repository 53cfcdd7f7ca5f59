"""Configuration problems as one line each: unknown ``LAKESMITH__…`` variables and config
keys (with the closest valid name), invalid values with where they were set (never a
secret's value)."""

from __future__ import annotations

import difflib
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn, get_origin

from pydantic import BaseModel

from lakesmith.config.discovery import DEFAULT_CONFIG_FILE, ENV_PREFIX
from lakesmith.config.settings import Settings
from lakesmith.core.errors import ConfigError

SettingPath = tuple[str, ...]  # ("local", "kafka_port") is local.kafka_port


@functools.cache
def setting_paths() -> tuple[frozenset[SettingPath], frozenset[SettingPath]]:
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


def is_known(path: SettingPath) -> bool:
    known, open_ = setting_paths()
    return path in known or any(path[: len(p)] == p and len(path) > len(p) for p in open_)


def closest(path: SettingPath, *, section: bool = False) -> SettingPath | None:
    """The valid setting path nearest to ``path`` (difflib), or None if none is close;
    a section name when ``section`` (a TOML table), else a key."""
    known, open_ = setting_paths()
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


def unknown_env_settings(environ: Mapping[str, str]) -> list[tuple[SettingPath, str]]:
    """(path, message) for each ``LAKESMITH__…`` variable that names no setting."""
    found = []
    for name in sorted(environ):
        if not name.upper().startswith(ENV_PREFIX):
            continue
        path = tuple(name[len(ENV_PREFIX) :].lower().split("__"))
        if is_known(path):
            continue
        near = closest(path)
        hint = f" (did you mean {env_name(near)}?)" if near else ""
        found.append((path, f"unknown setting {name}{hint}"))
    return found


def env_var_setting(path: SettingPath, environ: Mapping[str, str]) -> str | None:
    """The name of the environment variable that sets ``path`` (or its section), if any."""
    names = {k.upper(): k for k in environ}
    for n in range(len(path), 0, -1):
        if env_name(path[:n]) in names:
            return names[env_name(path[:n])]
    return None


_SECRETS = frozenset({"dsn", "api_key", "access_key_id", "secret_access_key"})


def describe_error(err: Mapping[str, Any], config: Path | None, environ: Mapping[str, str]) -> str:
    """One line for one pydantic error: the key, its value (never a secret's), what is
    expected and where it was set."""
    loc = tuple(str(p) for p in err.get("loc", ()) if not isinstance(p, int))
    key = ".".join(str(p) for p in err.get("loc", ()))
    var = env_var_setting(loc, environ)
    if var is not None:
        where = f"from {var}"
    elif config is not None:
        where = f"from {config}"
    else:
        where = f"set in {DEFAULT_CONFIG_FILE} or {env_name(loc)}"
    got = err.get("input")
    if err.get("type") == "extra_forbidden":
        near = closest(loc, section=len(loc) == 1 and isinstance(got, dict))
        hint = f"; did you mean {'.'.join(near)}?" if near else ""
        return f"unknown setting {key} ({where}{hint})"
    secret = bool(loc) and (loc[-1] in _SECRETS or loc[:2] == ("kafka", "extra"))
    shown = "" if isinstance(got, dict) or secret else f" = {got!r}"
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    return f"invalid setting {key}{shown}: {msg} ({where})"


def covered(loc: tuple[Any, ...], reported: list[SettingPath]) -> bool:
    """Whether an error at ``loc`` follows from an unknown variable already reported."""
    path = tuple(str(p).lower() for p in loc)
    return any(path[: len(r)] == r or r[: len(path)] == path for r in reported)


def raise_problems(problems: list[str]) -> NoReturn:
    if len(problems) == 1:
        raise ConfigError(problems[0])
    raise ConfigError(f"{len(problems)} configuration problems:\n  " + "\n  ".join(problems))
