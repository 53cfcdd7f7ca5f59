"""Source positions in Iceberg snapshot summaries, shared by ``stores.lake.iceberg`` (the
table) and ``stores.lake.iceberg_compact`` (its compaction).

Every commit to a lakesmith table carries the source positions committed so far in its
snapshot summary (``lakesmith.stream-positions``, ``core.positions.dumps``): appends merge
in the batch's positions, every other commit (delete, compaction rewrite) carries its
parent's unchanged. pyiceberg's own commit retries are off on lakesmith tables: they would
re-send the snapshot properties of the first attempt, i.e. stale positions, while our
commit loops re-read them from the refreshed table on every attempt.
"""

from __future__ import annotations

from pyiceberg.table import Table

from lakesmith.core import positions as pos

POSITIONS_KEY = "lakesmith.stream-positions"
# pyiceberg retries a failed commit by itself with the snapshot properties it was given:
# stale positions would then overwrite another worker's. Our own loop re-reads them.
COMMIT_RETRIES = "commit.retry.num-retries"
NO_INTERNAL_RETRY = {COMMIT_RETRIES: "0"}


def read_positions(table: Table) -> pos.Positions:
    """The positions committed with the table's current snapshot (none: empty)."""
    snap = table.current_snapshot()
    if snap is None or snap.summary is None:
        return {}
    return pos.loads(snap.summary[POSITIONS_KEY])


def carry_positions(table: Table) -> dict[str, str]:
    """Snapshot properties that keep the current positions (for non-stream commits)."""
    current = read_positions(table)
    return {POSITIONS_KEY: pos.dumps(current)} if current else {}
