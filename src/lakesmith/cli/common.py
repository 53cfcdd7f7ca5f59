"""What every CLI command shares: settings loading, logging set-up, the console.

Start-up matters here: ``lakesmith --help`` imports every command module, so nothing
in ``lakesmith.cli`` imports a heavy library (pydantic settings, Polars, Arrow, psycopg,
the lake or Kafka clients) at module level; each command imports what it uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

if TYPE_CHECKING:
    from lakesmith.config import Settings

console = Console()
err_console = Console(stderr=True)


@dataclass
class _State:
    """The root options (``lakesmith --log-level … --state-dir …``), set by its callback."""

    log_level: str | None = None
    state_dir: Path | None = None


state = _State()


def configure_logging(level: str) -> None:
    """JSON logs on stderr at ``level`` (structlog is imported only when a command runs)."""
    from lakesmith.core.logging import configure_logging as configure

    configure(level)


def settings() -> Settings:
    """Load settings once per command and configure JSON logging to stderr.

    ``lakesmith --state-dir`` wins over ``LAKESMITH__STATE_DIR`` and the config file."""
    from lakesmith.config import load_settings

    overrides: dict[str, Any] = {}
    if state.state_dir is not None:
        overrides["state_dir"] = state.state_dir
    s = load_settings(**overrides)
    configure_logging(state.log_level or s.log_level)
    return s


def tidy_text(doc: str | None) -> str | None:
    """A docstring as help text: dedented, each paragraph's lines joined into one (the
    terminal wraps them; Typer's Rich help would keep the source's line breaks)."""
    if not doc:
        return doc
    import inspect

    paragraphs = inspect.cleandoc(doc).split("\n\n")
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)


def tidy_help(app: typer.Typer) -> None:
    """Apply ``tidy_text`` to the help of every command and group under ``app``."""
    for command in app.registered_commands:
        if command.help is None and command.callback is not None:
            command.help = tidy_text(command.callback.__doc__)
    for group in app.registered_groups:
        sub = group.typer_instance
        if sub is None:
            continue
        callback = sub.registered_callback
        if callback is not None and callback.help is None and callback.callback is not None:
            callback.help = tidy_text(callback.callback.__doc__)
        tidy_help(sub)
