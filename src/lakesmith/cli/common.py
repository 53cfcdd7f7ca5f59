"""What every CLI command shares: settings loading, logging set-up, the console."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from lakesmith.config import Settings, load_settings
from lakesmith.core.logging import configure_logging

console = Console()
err_console = Console(stderr=True)


@dataclass
class _State:
    """The root options (``lakesmith --log-level … --state-dir …``), set by its callback."""

    log_level: str | None = None
    state_dir: Path | None = None


state = _State()


def settings() -> Settings:
    """Load settings once per command and configure JSON logging to stderr.

    ``lakesmith --state-dir`` wins over ``LAKESMITH__STATE_DIR`` and the config file."""
    overrides: dict[str, Any] = {}
    if state.state_dir is not None:
        overrides["state_dir"] = state.state_dir
    s = load_settings(**overrides)
    configure_logging(state.log_level or s.log_level)
    return s
