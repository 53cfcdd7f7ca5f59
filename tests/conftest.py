"""Shared fixtures: one real local stack per test session, on free ports."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakesmith.config import Settings
from lakesmith.local import LocalStack
from lakesmith.testing import local_stack_settings, make_state_dir

EXTERNAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "external"


@pytest.fixture(autouse=True)
def _isolate_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never read the developer's lakesmith.toml or LAKESMITH__ env vars."""
    for key in list(os.environ):
        if key.startswith("LAKESMITH"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("LAKESMITH_CONFIG", "none")


@pytest.fixture(scope="session")
def stack_settings() -> Iterator[Settings]:
    """Start PostgreSQL, S3, the Kafka broker and Typesense once for the whole session."""
    state_dir = make_state_dir()
    os.environ["LAKESMITH_CONFIG"] = "none"
    settings = local_stack_settings(state_dir)
    stack = LocalStack(settings)
    try:
        stack.up()
        yield settings
    finally:
        stack.down()
        shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def external_data() -> Path:
    if not EXTERNAL_DATA.is_dir():
        pytest.skip(f"external sample data not found at {EXTERNAL_DATA}")
    return EXTERNAL_DATA
