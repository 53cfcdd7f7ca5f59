"""What every CLI command shares: settings loading, logging set-up, the console."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console

from lakesmith.config import Settings, load_settings
from lakesmith.core.logging import configure_logging

console = Console()
err_console = Console(stderr=True)


@dataclass
class _State:
    log_level: str | None = None


state = _State()


def settings() -> Settings:
    """Load settings once per command and configure JSON logging to stderr."""
    s = load_settings()
    configure_logging(state.log_level or s.log_level)
    return s
