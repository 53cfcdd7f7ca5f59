"""Helpers of tests/unit/test_deploy.py: resolve ``LAKESMITH__…`` names against
``Settings``, interpolate compose variables, parse a command line with the real CLI
(without running it), read the compose file and the Kustomize manifests."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, get_args, get_origin

import typer
import yaml
from pydantic import BaseModel

from lakesmith.cli import app
from lakesmith.config import CONFIG_ENV, ENV_PREFIX, Settings
from lakesmith.contracts.loader import builtin_contracts
from lakesmith.contracts.model import Contract

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S_BASE = DEPLOY / "k8s" / "base"
K8S_OVERLAY = DEPLOY / "k8s" / "overlays" / "example"
TERRAFORM = DEPLOY / "terraform" / "aws"
STREAMING = ("kafka", "s3")  # source kinds a long-running `lakesmith run` worker reads
METRICS_PORT = "9108"


def setting_of(name: str) -> tuple[str, ...]:
    """``LAKESMITH__A__B`` → ``("a", "b")`` if it names a ``Settings`` field (a dict field's
    keys are free), else ``AssertionError`` naming what is wrong."""
    assert name.startswith(ENV_PREFIX), f"{name}: not a {ENV_PREFIX}… variable"
    parts = tuple(name[len(ENV_PREFIX) :].lower().split("__"))
    model: type[BaseModel] = Settings
    for i, part in enumerate(parts):
        field = model.model_fields.get(part)
        assert field is not None, f"{name}: {model.__name__} has no field {part!r}"
        ann = field.annotation
        options = [a for a in (get_args(ann) or (ann,)) if a is not type(None)]
        sub = next((a for a in options if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if sub is not None and i + 1 < len(parts):
            model = sub
            continue
        if any(get_origin(a) is dict for a in options):
            return parts  # dict[str, …]: any key below it
        assert i + 1 == len(parts), f"{name}: {'.'.join(parts[: i + 1])} has no sub-fields"
    return parts


def contract_variables() -> set[str]:
    """Environment variables the built-in contracts read: ``${NAME…}`` in their values and
    the names their ``*_env`` keys give."""
    from lakesmith.contracts.loader import DOMAINS_DIR

    found: set[str] = set()
    for path in DOMAINS_DIR.glob("*/*.yaml"):
        text = path.read_text()
        found.update(re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)", text))
        found.update(re.findall(r"\b\w+_env:\s*([A-Za-z_][A-Za-z0-9_]*)", text))
    return found


def check_variables(names: Iterator[str] | list[str], where: str) -> int:
    """Every ``LAKESMITH…`` name is a setting, ``LAKESMITH_CONFIG`` or a variable a built-in
    contract reads; returns how many."""
    count = 0
    contract_env = contract_variables()
    for name in names:
        if not name.startswith("LAKESMITH"):
            continue
        count += 1
        if name != CONFIG_ENV and name not in contract_env:
            try:
                setting_of(name)
            except AssertionError as exc:
                raise AssertionError(f"{where}: {exc}") from None
    return count


def dotenv(path: Path) -> dict[str, str]:
    """``NAME=value`` lines (comments and blank lines skipped)."""
    found: dict[str, str] = {}
    for line in path.read_text().splitlines():
        name, eq, value = line.partition("=")
        if eq and not name.lstrip().startswith("#"):
            found[name.strip()] = value.strip()
    return found


_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}`` and ``$$``."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m.group(1), m.group(2) or "", m.group(3) or ""
        if env.get(name):
            return env[name]
        assert "?" not in op, f"${{{name}}} is required ({arg}) and .env.example lacks it"
        return arg

    return _VAR.sub(sub, value)


def command_context(args: list[str]) -> Any:
    """Parse ``lakesmith ARGS`` like the CLI would, without running it: the leaf command's
    click context (a ``UsageError`` for an unknown command, option or value)."""
    cmd: Any = typer.main.get_command(app)
    ctx: Any = None
    name, rest = "lakesmith", list(args)
    while True:
        ctx = cmd.make_context(name, rest, parent=ctx)
        rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
        if not hasattr(cmd, "resolve_command") or not rest:
            return ctx
        name, cmd, rest = cmd.resolve_command(ctx, rest)


def streaming_contracts() -> dict[str, Contract]:
    return {n: c for n, c in builtin_contracts().items() if c.source.kind in STREAMING}


def worker_dataset(args: list[str]) -> str | None:
    """The dataset of a ``run DATASET …`` command (checked against the CLI), else None."""
    if not args or args[0] != "run":
        return None
    params = command_context(args).params  # parses the command with the real CLI
    dataset = str(params.get("dataset") or args[1])
    assert dataset in builtin_contracts() or (REPO / dataset).is_file(), (
        f"`lakesmith {' '.join(args)}`: {dataset} is neither a built-in contract nor a file"
    )
    return dataset


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yml").read_text())
    return data


def lakesmith_services(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in doc["services"].items() if "lakesmith" in str(s.get("image", ""))}


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) for e in env)
    return {str(k): str(v) for k, v in env.items()}


def manifests(folder: Path) -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    docs: list[dict[str, Any]] = []
    for res in kustomization.get("resources", []):
        path = folder / res
        assert path.exists(), f"{folder.name}/kustomization.yaml: {res} does not exist"
        if path.is_file():
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    if doc["kind"] == "CronJob":
        spec: dict[str, Any] = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        return spec
    return dict(doc["spec"]["template"]["spec"])


def kafka_partitions(contract: Contract) -> int:
    return int(getattr(contract.source, "partitions", 1))
