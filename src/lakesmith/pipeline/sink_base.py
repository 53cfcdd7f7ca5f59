"""What every sink is (``Sink``) and when a lake table commits (``CommitPolicy``): the
contract between the runner and the sinks, apart from the sinks themselves
(``pipeline.sinks`` for bronze/quarantine/silver/time series/DQ, ``pipeline.gold_sinks``
for the gold star schemas)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from lakesmith.core import positions as pos

if TYPE_CHECKING:
    from lakesmith.config import Settings
    from lakesmith.pipeline.process import ProcessedBatch


class Sink(Protocol):
    name: str
    commits: int  # commits made (a held write is not one)

    def positions(self, streams: Iterable[str]) -> pos.Positions:
        """Committed positions of ``streams`` (absent: nothing committed for it)."""
        ...

    def write(self, batch: ProcessedBatch) -> int:
        """Write the batch's rows beyond the committed positions, with its positions,
        atomically; returns the rows written. A sink with a commit policy (a lake table
        receiving a trickle) may hold the batch instead and return 0: it is committed,
        with the merged positions of everything held, by a later ``write`` or ``flush``."""
        ...

    def flush(self, force: bool = False) -> int | None:
        """Commit what is held when the policy says it is due (``force``: now); returns the
        rows written, None when nothing was committed. Nothing held: None."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class CommitPolicy:
    """When a lake table commits (``[lake]`` settings): at once when the held batches cover
    ``rows`` source records (a full batch at high rates: every table commits every batch,
    as before), else once the oldest held batch waited ``interval_s`` — so a stream of 50 events/s writes a file a minute, not a
    file a batch. ``compact_every``: this sink compacts its table after that many commits
    (0: never; ``lakesmith compact`` or a scheduled job does it) — counting only commits of
    less than a full batch, the small files a trickle writes."""

    rows: int
    interval_s: float
    compact_every: int = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> CommitPolicy:
        lake = settings.lake
        return cls(
            rows=lake.commit_rows or settings.worker.batch_size,
            interval_s=lake.commit_interval_s,
            compact_every=lake.compact_every_commits,
        )


T = TypeVar("T")


class HeldBatches(Generic[T]):
    """What a lake sink holds between commits, and when its ``CommitPolicy`` makes them
    due: the held row sets (Arrow tables, Polars frames: the sink's choice), their merged
    positions, the source records they cover and when the oldest arrived. The lake sinks
    (``pipeline.sinks.LakeSink``, ``pipeline.gold_sinks.LakeGoldSink``) keep this
    bookkeeping here and only say what they hold and how they commit it."""

    def __init__(self, policy: CommitPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._clock = clock
        self.items: list[T] = []
        self.positions: pos.Positions = {}
        self.records = 0  # source records the held batches cover (all tables alike)
        self.since: float | None = None

    def hold(self, rows: T | None, positions: pos.Positions, records: int) -> None:
        """Hold ``rows`` (None: nothing to keep, but the positions still move)."""
        if rows is not None:
            self.items.append(rows)
        self.positions = pos.merge(self.positions, positions)
        self.records += records
        if self.since is None:
            self.since = self._clock()

    @property
    def empty(self) -> bool:
        return self.since is None

    def due(self) -> bool:
        if self.since is None:
            return False
        waited = self._clock() - self.since
        return self.records >= self.policy.rows or waited >= self.policy.interval_s

    def take(self) -> tuple[list[T], pos.Positions, int]:
        """What is held (rows, merged positions, records), forgotten here: the sink
        commits it now."""
        taken = self.items, self.positions, self.records
        self.items, self.positions, self.records, self.since = [], {}, 0, None
        return taken
