"""Every lakesmith process's allocator settings (``cli.allocator_defaults``), set before
pyarrow and Polars load."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lakesmith import cli

PROBE = """
import os, sys
import lakesmith.cli
assert "pyarrow" not in sys.modules and "polars" not in sys.modules
lakesmith.cli.allocator_defaults(lakesmith.cli.command_of(sys.argv[1:]))
import pyarrow as pa
print(pa.default_memory_pool().backend_name, os.environ["_RJEM_MALLOC_CONF"])
"""
NAMES = (cli.ARROW_POOL[0], cli.JEMALLOC_CONF[0])


def _probe(*argv: str, **extra: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k not in NAMES}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], env={**env, **extra}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_a_lakesmith_process_gets_the_allocator_defaults() -> None:
    assert _probe() == ["system", cli.JEMALLOC_CONF[1]]
    # a process started by one that imported Polars inherits Polars' own defaults
    assert _probe(_RJEM_MALLOC_CONF="dirty_decay_ms:500,muzzy_decay_ms:1000") == [
        "system",
        cli.JEMALLOC_CONF[1],
    ]


def test_a_users_settings_win(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _probe(ARROW_DEFAULT_MEMORY_POOL="jemalloc", _RJEM_MALLOC_CONF="narenas:2") == [
        "jemalloc",
        "narenas:2",
    ]
    monkeypatch.setenv("_RJEM_MALLOC_CONF", "narenas:2")
    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    cli.allocator_defaults()
    assert os.environ["_RJEM_MALLOC_CONF"] == "narenas:2"
    assert os.environ["ARROW_DEFAULT_MEMORY_POOL"] == "system"


def test_ingest_keeps_freed_pages_longer_unless_the_user_says_otherwise() -> None:
    ingest = cli.JEMALLOC_CONF_BY_COMMAND["ingest"]
    assert ingest != cli.JEMALLOC_CONF[1]
    assert _probe("--log-level", "WARNING", "ingest", "x.csv") == ["system", ingest]
    assert _probe("run", "iot.telemetry") == ["system", cli.JEMALLOC_CONF[1]]
    assert _probe("ingest", "x.csv", _RJEM_MALLOC_CONF="narenas:2") == ["system", "narenas:2"]


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["ingest", "x.csv"], "ingest"),
        (["--log-level", "WARNING", "ingest", "x.csv"], "ingest"),
        (["--state-dir", "/tmp/s", "--debug", "run", "iot.telemetry"], "run"),
        (["--log-level=INFO", "serve"], "serve"),
        (["--version"], None),
        ([], None),
        (["--log-level"], None),
    ],
)
def test_the_command_is_found_past_the_root_options(argv: list[str], command: str | None) -> None:
    assert cli.command_of(argv) == command


def test_the_root_options_that_take_a_value_are_known() -> None:
    """``command_of`` skips the value of these: a new root option with a value must be
    added to ``_ROOT_OPTIONS_WITH_VALUES``."""
    import typer.main

    root = typer.main.get_command(cli.app)
    valued = {
        name
        for p in root.params
        if not getattr(p, "is_flag", False) and p.param_type_name == "option"
        for name in p.opts
    }
    assert valued == set(cli._ROOT_OPTIONS_WITH_VALUES)
