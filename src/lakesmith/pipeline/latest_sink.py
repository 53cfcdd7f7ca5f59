"""The silver sink of a dataset whose silver keeps the *latest* version of each record
(``silver.versions: latest`` in its contract) instead of the first one.

Records with a key already in silver replace it; a tombstone (a record delivered under
an ``api://…/delete`` stream, ``sources.api``) deletes it. Each commit is one
``LakeTable.replace``: delete the rows of every key the held batches touch, add the
newest live version of each, with the batches' positions, only if the table is still at
the version read (else read again). Rows at or below the committed positions are dropped
first, so a replay changes nothing. ``lakesmith reprocess --from bronze`` rebuilds the
same table: bronze delivers the versions in the order they were ingested.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import polars as pl
import pyarrow as pa

from lakesmith.core import positions as pos
from lakesmith.core.errors import SinkError
from lakesmith.pipeline.lake_sink import LakeSink
from lakesmith.pipeline.process import ProcessedBatch
from lakesmith.pipeline.sink_base import CommitPolicy
from lakesmith.sources.api import tombstone_streams
from lakesmith.stores.lake import Filter, LakeTable

_ORDER = "__order"
ATTEMPTS = 30


def newest(frame: pl.DataFrame, key: str) -> tuple[pl.DataFrame, list[object]]:
    """``(newest live row per key, every key touched)`` of ``frame`` (arrival order)."""
    last = (
        frame.with_row_index(_ORDER)
        .unique(key, keep="last", maintain_order=False)
        .sort(_ORDER)
        .drop(_ORDER)
    )
    touched = last[key].to_list()
    return last.filter(~tombstone_streams()), touched


class LatestLakeSink(LakeSink):
    staging = False  # merges the held rows at commit time

    def __init__(
        self,
        name: str,
        table: LakeTable,
        frame: Callable[[ProcessedBatch], pl.DataFrame],
        key: str,
        policy: CommitPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        compact_keys: Sequence[str] = (),
    ) -> None:
        super().__init__(name, table, frame, policy, clock, compact_keys)
        self.key = key

    def _commit(self) -> int:
        from lakesmith.stores.lake.merge import StaleTableError

        held, positions, _ = self._held.take()
        self._held_rows = 0
        data = held[0] if len(held) == 1 else pa.concat_tables(held, promote_options="permissive")
        for _ in range(ATTEMPTS):
            version = self.table.version()
            fresh = pos.unseen_arrow(data, self.table.positions(list(positions)))
            frame = pl.from_arrow(fresh)
            assert isinstance(frame, pl.DataFrame)
            live, touched = newest(frame, self.key)
            stored = set(self.table.column_names())
            rows = live.select([c for c in live.columns if c in stored]).to_arrow()
            where: Filter | None = [(self.key, "in", touched)] if touched else None
            try:
                written = self.table.replace(rows, where, positions, expect=version)
            except StaleTableError:
                continue
            self.commits += 1
            return written
        raise SinkError(f"{self.table.label}: could not commit after {ATTEMPTS} attempts")
