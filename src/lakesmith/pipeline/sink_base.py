"""What every sink is (``Sink``) and when a lake table commits (``CommitPolicy``): the
contract between the runner and the sinks, apart from the sinks themselves
(``pipeline.sinks`` for bronze/quarantine/silver/time series/DQ, ``pipeline.gold_sinks``
for the gold star schemas)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

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
