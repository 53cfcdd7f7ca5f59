"""``lakesmith watch DIR --dataset-map map.yaml``: ingest files dropped into a folder."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from lakesmith.cli.common import console, settings

if TYPE_CHECKING:
    from lakesmith.pipeline.watch import Outcome


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def describe(o: Outcome) -> str:
    if o.status == "done":
        return f"{o.path.name}: {o.records:,} records into {o.dataset}"
    if o.status == "skipped":
        return f"{o.path.name}: already ingested ({o.detail})"
    return f"{o.path.name}: {o.status.replace('_', ' ')}" + (f" — {o.detail}" if o.detail else "")


def watch(
    folder: Path = typer.Argument(..., file_okay=False, exists=True, help="The drop folder."),
    dataset_map: Path = typer.Option(
        ..., "--dataset-map", exists=True, dir_okay=False, help="YAML: file-name globs → datasets."
    ),
    move_done: Path | None = typer.Option(
        None, "--move-done", file_okay=False, help="Move ingested files here (default: leave them)."
    ),
    settle: float = typer.Option(
        2.0, "--settle", min=0.1, help="Seconds a file's size must stay the same before it is read."
    ),
    rescan: float = typer.Option(
        30.0, "--rescan", min=0.5, help="Seconds between full listings (beside file events)."
    ),
    memory_limit: str = typer.Option("1GiB", "--memory-limit", help="Memory ceiling per ingest."),
    once: bool = typer.Option(
        False, "--once", help="Process the files there now (once settled), then exit."
    ),
) -> None:
    """Ingest every JSON, JSON-lines, CSV or Parquet file dropped into FOLDER, once per content.

    A file is read when its size has settled (or once renamed into the folder; hidden and
    .tmp/.part names are ignored). The content hash is recorded in a ledger, so the same
    content dropped again, or seen again after a restart, is not ingested twice. Files no
    dataset maps (PDFs, …) go to the handler for their suffix, or are recorded as having
    none. Ctrl-C stops after the file in progress.
    """
    from lakesmith.pipeline.ingest import parse_size
    from lakesmith.pipeline.watch import Watcher, load_dataset_map

    s = settings()
    signal.signal(signal.SIGTERM, _stop)
    watcher = Watcher(
        s,
        folder,
        load_dataset_map(dataset_map),
        settle_s=settle,
        rescan_s=rescan,
        move_done=move_done,
        memory_limit=parse_size(memory_limit),
        on_outcome=lambda o: console.print(describe(o), highlight=False),
    )
    console.print(f"watching {folder} (Ctrl-C to stop)", highlight=False)
    try:
        watcher.run(once=once)
    except KeyboardInterrupt:
        console.print("stopped", highlight=False)
        raise typer.Exit(130) from None
    finally:
        watcher.close()
