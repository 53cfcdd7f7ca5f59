"""The one Rich progress bar style for long CLI work (producing, compaction, …)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def progress_bar(
    enabled: bool = True, console: Console | None = None, transient: bool = False
) -> Progress:
    """A Rich progress bar (stderr by default); silent when disabled or not a terminal."""
    console = console or Console(stderr=True)
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=transient,
        disable=not enabled or not console.is_terminal,
    )
