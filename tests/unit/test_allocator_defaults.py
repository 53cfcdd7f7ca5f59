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
lakesmith.cli.allocator_defaults()
import pyarrow as pa
print(pa.default_memory_pool().backend_name, os.environ["_RJEM_MALLOC_CONF"])
"""
NAMES = (cli.ARROW_POOL[0], cli.JEMALLOC_CONF[0])


def _probe(**extra: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k not in NAMES}
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env={**env, **extra}, capture_output=True, text=True
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
