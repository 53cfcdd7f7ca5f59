"""A lake table (Iceberg or Delta) as a sink: ``LakeSink`` holds the rows of one frame of
each batch by the lake's ``CommitPolicy`` and commits them with their merged positions.
``pipeline.sinks.build_sinks`` builds one per bronze, quarantine and silver table;
``pipeline.latest_sink`` refines it for silver that keeps the latest version per key.

Held rows never exceed ``STAGE_BYTES`` of Arrow: beyond it a table that can write files
without committing them (``StagingTable``: Iceberg) writes them now and holds only the
file list until the policy makes the commit due (``lakesmith ingest`` commits every few
batches this way, not every batch); any other table commits at once."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, runtime_checkable

import polars as pl
import pyarrow as pa

from lakesmith.bronze.envelope import as_stored
from lakesmith.core import positions as pos
from lakesmith.core.errors import LakesmithError
from lakesmith.core.logging import get_logger
from lakesmith.pipeline.process import ProcessedBatch
from lakesmith.pipeline.sink_base import CommitPolicy, HeldBatches
from lakesmith.stores.lake import CompactOptions, LakeTable

log = get_logger(__name__)
AUTO_COMPACT_BYTES = 16 * 1024 * 1024  # target file size of the worker's own compactions
STAGE_BYTES = 16 * 1024 * 1024  # held Arrow beyond this is written (staged) or committed now


@runtime_checkable
class StagingTable(Protocol):
    """A lake table that writes data files now and commits them later, together."""

    def stage(self, data: pa.Table, positions: pos.Positions) -> Any: ...

    def commit_staged(self, staged: Sequence[Any], positions: pos.Positions) -> int: ...


class LakeSink:
    """A lake table (Iceberg or Delta) fed by one frame of the batch, committing by its
    ``CommitPolicy``: rows of several batches are held (as Arrow, in memory) and committed
    together with their merged positions. Held rows are not committed, so the positions
    the worker resumes from never cover them: a crash loses nothing."""

    staging = True  # may write files before their commit (a subclass that merges may not)

    def __init__(
        self,
        name: str,
        table: LakeTable,
        frame: Callable[[ProcessedBatch], pl.DataFrame],
        policy: CommitPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        compact_keys: Sequence[str] = (),
        stage_bytes: int = STAGE_BYTES,
    ) -> None:
        self.name = name
        self.stage_bytes = stage_bytes
        self.table = table
        self._frame = frame
        self.policy = policy or CommitPolicy(rows=1, interval_s=0.0)
        self._compact_keys = tuple(compact_keys)
        self._held: HeldBatches[pa.Table] = HeldBatches(self.policy, clock)
        self._held_rows = 0
        self._staged: list[Any] = []  # files written, not committed (a StagingTable's)
        self.commits = 0
        self._small_commits = 0  # commits of less than a full batch since the last compaction

    @property
    def pending_rows(self) -> int:
        return self._held_rows

    def positions(self, streams: Iterable[str]) -> pos.Positions:
        return self.table.positions(streams)

    def write(self, batch: ProcessedBatch) -> int:
        rows = as_stored(self._frame(batch))
        if self._held.positions:
            # a source that seeks back (a rebalance resumes from the *committed* positions)
            # re-delivers rows we hold: keep one copy
            rows = pos.unseen_arrow(rows, self._held.positions)
        keep = rows.num_rows or not self._held.items  # an empty frame still gives the columns
        self._held.hold(rows if keep else None, batch.positions, batch.outcomes.height)
        self._held_rows += rows.num_rows
        if self._held.due():
            return self._commit()
        if sum(t.nbytes for t in self._held.items) >= self.stage_bytes:
            if not (self.staging and isinstance(self.table, StagingTable)):
                return self._commit()
            self._stage_held()
        return 0

    def _stage_held(self) -> None:
        """Write the held rows as uncommitted files; their positions stay held."""
        assert isinstance(self.table, StagingTable)
        data = self._concat(self._held.items)
        self._staged.append(self.table.stage(data, self._held.positions))
        self._held.items = []

    @staticmethod
    def _concat(held: list[pa.Table]) -> pa.Table:
        if len(held) == 1:
            return held[0]
        return pa.concat_tables(held, promote_options="permissive")  # evolved columns

    def flush(self, force: bool = False) -> int | None:
        if self._held.empty or not (force or self._held.due()):
            return None
        return self._commit()

    def _commit(self) -> int:
        staged = self._staged
        held_rows = self._held_rows
        held, positions, records = self._held.take()
        self._held_rows = 0
        self._staged = []
        try:
            if staged:
                assert isinstance(self.table, StagingTable)
                data = self._concat(held) if held else None
                if data is not None and data.num_rows:
                    staged.append(self.table.stage(data, positions))
                    held = []
                written = self.table.commit_staged(staged, positions)
            else:
                written = self.table.append(self._concat(held), positions)
        except BaseException:
            # keep what was held, so a retried write commits it (and nothing twice)
            self._staged = staged
            self._held.hold(None, positions, records)
            self._held.items[:0] = held
            self._held_rows = held_rows
            raise
        small = records < self.policy.rows  # the interval (or a flush) was due
        self.commits += 1
        self._small_commits += small
        every = self.policy.compact_every
        if every and self._small_commits >= every:
            self._small_commits = 0
            self._compact()
        return written

    def _compact(self) -> None:
        """Compaction after every ``compact_every`` commits: the small files of a low-rate
        stream are rewritten into one per partition and old snapshots expire."""
        # files of a trickle only: full-batch commits already write batch-sized files, and a
        # small target keeps a rewrite (read into memory at once) small beside the worker
        options = CompactOptions(dedupe_keys=self._compact_keys, target_bytes=AUTO_COMPACT_BYTES)
        started = time.monotonic()
        try:
            report = self.table.compact(options)
        except LakesmithError as exc:  # the data is committed; compaction can wait
            log.warning("auto_compact_failed", table=self.table.label, error=str(exc)[:300])
            return
        log.info(
            "auto_compacted", table=self.table.label, files_before=report.files_before,
            files_after=report.files_after, seconds=round(time.monotonic() - started, 2),
        )  # fmt: skip

    def close(self) -> None:
        pass
