"""The folder drop (``lakesmith watch DIR --dataset-map map.yaml``): every JSON, JSON-lines,
CSV or Parquet file that lands in DIR is ingested once per *content*, through
``pipeline.ingest`` (the file source, the worker's loop, the dataset's sinks).

- **When a file is ready**: its size and modified time have not changed for ``settle_s``
  seconds (a writer still appending keeps it waiting), or it was renamed into DIR (write
  ``.name.tmp`` / ``name.part``, then rename: hidden and partial names are never read).
  watchdog reports changes at once; a full listing every ``rescan_s`` seconds (and at
  start) catches what events miss (network folders, a watcher that was down).
- **Once per content**: the file's hash keys ``lakesmith.file_ledger`` (``stores.ledger``).
  A content already ``done`` is skipped whatever its name or time; a content ``started``
  but not done (the watcher was killed) is ingested again and resumes from the positions
  its sinks committed, so nothing is duplicated.
- **Routing**: the map's first entry whose ``match`` (a glob on the file name) fits gives
  the dataset (and optionally its contract, format and table format); no contract means
  one is inferred and kept for the dataset, widened when later files bring new columns.
  Files no entry maps (PDFs, images, …) go to the handler registered for their suffix
  (``register_handler``); with none, the ledger records ``no_handler`` and the file stays.
- Files stay where they are unless ``move_done`` names a folder for ingested files.

```yaml
# map.yaml
datasets:
  - {match: "orders_*.csv", dataset: shop.orders, contract: contracts/orders.yaml}
  - {match: "*.jsonl", dataset: shop.events, table_format: delta}
```
"""

from __future__ import annotations

import fnmatch
import hashlib
import queue
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lakesmith.config import Settings
from lakesmith.core.errors import InputError, LakesmithError, validation_problems
from lakesmith.core.logging import get_logger
from lakesmith.stores import ledger

log = get_logger(__name__)

DATA_SUFFIXES = frozenset(
    {".csv", ".tsv", ".json", ".jsonl", ".ndjson", ".parquet", ".pq", ".pdf", ".gz"}
)
PARTIAL_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".download", ".swp")
HASH_BLOCK = 8 * 1024 * 1024

# A handler takes a file nobody maps to a dataset and returns what it did (ledger detail).
Handler = Callable[[Path, Settings], str]
_HANDLERS: dict[str, Handler] = {}


def register_handler(suffix: str, handler: Handler) -> None:
    """Route files ending in ``suffix`` (``.pdf``) that no dataset maps to ``handler``."""
    _HANDLERS[suffix.lower()] = handler


def handler_for(path: Path) -> Handler | None:
    return _HANDLERS.get(path.suffix.lower())


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    match: str = Field(description="glob on the file name, e.g. orders_*.csv")
    dataset: str
    contract: Path | None = None
    format: str | None = None
    table_format: str | None = Field(None, pattern="^(iceberg|delta)$")


class DatasetMap(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    datasets: list[Route]

    def route(self, path: Path) -> Route | None:
        return next((r for r in self.datasets if fnmatch.fnmatch(path.name, r.match)), None)


def load_dataset_map(path: Path) -> DatasetMap:
    try:
        data = yaml.safe_load(path.read_text())
        found = DatasetMap.model_validate(data)
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"cannot read the dataset map {path}: {exc}") from None
    except ValidationError as exc:
        raise InputError(
            f"invalid dataset map {path}: {validation_problems(exc)}",
            hint="datasets: [{match: '*.csv', dataset: files.orders}, …]",
        ) from None
    base = path.parent
    routes = [
        r.model_copy(update={"contract": base / r.contract})
        if r.contract is not None and not r.contract.is_absolute()
        else r
        for r in found.datasets
    ]
    return DatasetMap(datasets=routes)


def content_hash(path: Path) -> str:
    """BLAKE2b of the file's bytes, read in blocks (memory stays one block)."""
    h = hashlib.blake2b(digest_size=20)
    with path.open("rb") as handle:
        while block := handle.read(HASH_BLOCK):
            h.update(block)
    return h.hexdigest()


def _ignored(path: Path) -> bool:
    name = path.name
    return name.startswith((".", "~")) or name.lower().endswith(PARTIAL_SUFFIXES)


@dataclass
class _Candidate:
    size: int
    mtime_ns: int
    since: float  # when this size and time were first seen


@dataclass
class Outcome:
    path: Path
    status: str  # done | skipped | no_handler | handled | failed
    dataset: str | None = None
    records: int = 0
    detail: str = ""


class Watcher:
    """Watch ``folder``; ``run`` ingests settled files until ``stop`` is set (or, with
    ``once``, until every file present at start is settled and processed)."""

    def __init__(
        self,
        settings: Settings,
        folder: Path,
        dataset_map: DatasetMap,
        *,
        settle_s: float = 2.0,
        rescan_s: float = 30.0,
        move_done: Path | None = None,
        memory_limit: int = 1024 * 1024 * 1024,
        on_outcome: Callable[[Outcome], None] | None = None,
    ) -> None:
        if not folder.is_dir():
            raise InputError(f"cannot watch {folder}: not a folder")
        self.settings = settings
        self.folder = folder.absolute()
        self.map = dataset_map
        self.settle_s = settle_s
        self.rescan_s = rescan_s
        self.move_done = move_done
        self.memory_limit = memory_limit
        self.on_outcome = on_outcome
        self._events: queue.SimpleQueue[Path] = queue.SimpleQueue()
        self._candidates: dict[Path, _Candidate] = {}
        self._finished: dict[Path, tuple[int, int]] = {}  # processed this session
        self.outcomes: list[Outcome] = []
        from lakesmith.stores.postgres import connect

        self._conn = connect(settings)
        ledger.ensure_ledger(self._conn)

    # -- finding ready files ---------------------------------------------------------------

    def _touch(self, path: Path, now: float) -> None:
        if _ignored(path) or path.parent != self.folder:
            return
        try:
            st = path.stat()
        except OSError:
            self._candidates.pop(path, None)  # gone (renamed away, deleted)
            return
        if not path.is_file():
            return
        key = (st.st_size, st.st_mtime_ns)
        if self._finished.get(path) == key:
            return
        seen = self._candidates.get(path)
        if seen is None or (seen.size, seen.mtime_ns) != key:
            self._candidates[path] = _Candidate(st.st_size, st.st_mtime_ns, now)

    def _rescan(self, now: float) -> None:
        for path in sorted(self.folder.iterdir()):
            self._touch(path, now)
        for path in [p for p in self._candidates if not p.exists()]:
            del self._candidates[path]

    def _settled(self, now: float) -> list[Path]:
        ready = []
        for path, c in sorted(self._candidates.items()):
            if now - c.since < self.settle_s:
                continue
            self._touch(path, now)  # changed since? then it waits again
            again = self._candidates.get(path)
            if again is not None and again.since == c.since:
                ready.append(path)
        return ready

    # -- processing --------------------------------------------------------------------------

    def process(self, path: Path) -> Outcome:
        """Ingest (or hand off, or skip) one settled file, recording it in the ledger."""
        st = path.stat()
        digest = content_hash(path)
        seen = ledger.lookup(self._conn, digest)
        if seen is not None and seen.status in ledger.FINAL:
            log.info("drop_already_done", path=str(path), first_path=seen.path, status=seen.status)
            return Outcome(path, "skipped", seen.dataset, 0, f"same content as {seen.path}")
        route = self.map.route(path) if path.suffix.lower() in DATA_SUFFIXES else None
        if route is None:
            return self._hand_off(path, digest, st.st_size)
        ledger.record(self._conn, digest, str(path), st.st_size, "started", dataset=route.dataset)
        try:
            records = self._ingest(path, route)
        except LakesmithError as exc:
            ledger.record(
                self._conn, digest, str(path), st.st_size, "failed",
                dataset=route.dataset, detail=exc.message,
            )  # fmt: skip
            log.error("drop_failed", path=str(path), dataset=route.dataset, error=exc.message)
            return Outcome(path, "failed", route.dataset, 0, exc.message)
        where = self._move(path)
        ledger.record(
            self._conn, digest, str(where), st.st_size, "done", dataset=route.dataset,
            records=records,
        )  # fmt: skip
        return Outcome(where, "done", route.dataset, records)

    def _ingest(self, path: Path, route: Route) -> int:
        from lakesmith.pipeline.ingest import ingest, prepare

        job = prepare(
            self.settings, str(path), route.dataset, fmt=route.format,
            table_format=route.table_format, memory_limit=self.memory_limit,
            contract_path=route.contract,
        )  # fmt: skip
        result = ingest(self.settings, job)
        return result.stats.records

    def _hand_off(self, path: Path, digest: str, size: int) -> Outcome:
        handler = handler_for(path)
        if handler is None:
            detail = (
                f"no handler for {path.suffix or 'files without a suffix'} and no dataset maps it"
            )
            log.warning("drop_no_handler", path=str(path), detail=detail)
            ledger.record(self._conn, digest, str(path), size, "no_handler", detail=detail)
            return Outcome(path, "no_handler", None, 0, detail)
        try:
            detail = handler(path, self.settings)
        except LakesmithError as exc:
            ledger.record(self._conn, digest, str(path), size, "failed", detail=exc.message)
            return Outcome(path, "failed", None, 0, exc.message)
        ledger.record(self._conn, digest, str(path), size, "handled", detail=detail)
        return Outcome(path, "handled", None, 0, detail)

    def _move(self, path: Path) -> Path:
        if self.move_done is None:
            return path
        self.move_done.mkdir(parents=True, exist_ok=True)
        target = self.move_done / path.name
        shutil.move(str(path), target)
        return target

    # -- the loop ----------------------------------------------------------------------------

    def run(self, stop: threading.Event | None = None, once: bool = False) -> list[Outcome]:
        from watchdog.events import FileSystemEvent, FileSystemEventHandler
        from watchdog.observers import Observer

        events = self._events

        class _Events(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                for p in (event.src_path, getattr(event, "dest_path", "")):
                    if p:
                        events.put(Path(p if isinstance(p, str) else p.decode()))

        stop = stop or threading.Event()
        observer: Any = Observer()
        observer.schedule(_Events(), str(self.folder), recursive=False)
        observer.start()
        log.info("watch_started", folder=str(self.folder), settle_s=self.settle_s)
        next_rescan = 0.0
        try:
            while not stop.is_set():
                now = time.monotonic()
                if now >= next_rescan:
                    self._rescan(now)
                    next_rescan = now + self.rescan_s
                while not events.empty():
                    self._touch(events.get(), now)
                for path in self._settled(now):
                    self._finish(path)
                if once and not self._candidates:
                    break
                stop.wait(min(0.2, self.settle_s / 4))
        finally:
            observer.stop()
            observer.join(timeout=5)
        return self.outcomes

    def _finish(self, path: Path) -> None:
        st = path.stat()
        del self._candidates[path]
        outcome = self.process(path)
        self._finished[path] = (st.st_size, st.st_mtime_ns)
        self.outcomes.append(outcome)
        log.info(
            "drop_processed", path=str(path), status=outcome.status, dataset=outcome.dataset,
            records=outcome.records,
        )  # fmt: skip
        if self.on_outcome is not None:
            self.on_outcome(outcome)

    def close(self) -> None:
        self._conn.close()
