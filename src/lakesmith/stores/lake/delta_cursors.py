"""The cursors of a Delta table's source positions (``DeltaTable.positions``).

A ``txn`` holds only a number, so a position's opaque ``cursor`` travels in the commit
info of the same commit (``lakesmith.positions``, ``positions.dumps`` of the streams it
advanced). ``CursorCache.find`` looks it up by ``(stream, next)`` in the history, newest
commit first, in growing windows, and caches the answer per ``(stream, next)`` (it never
changes). Tables that never saw a cursor skip the history entirely: the first commit that
carries one also sets the app transaction ``lakesmith.cursors``. Commit infos go away with
expired log files (``delta.logRetentionDuration``, 30 days): ``compact`` re-carries the
cursors it finds in the last ``CARRY_WINDOW`` commits, so a stream idle for longer than the
log retention *without* compaction in between resumes without its cursor (its ``next`` is
never lost; rows are still de-duplicated by ``seq``).
"""

from __future__ import annotations

from collections.abc import Mapping

from deltalake import DeltaTable as _Delta

from lakesmith.core.logging import get_logger
from lakesmith.core.positions import Positions
from lakesmith.stores.lake.delta_log import commit_positions

log = get_logger(__name__)

HISTORY_WINDOWS = (64, 1024, None)  # commits read per pass when looking for cursors


class CursorCache:
    """The cursor committed with each ``(stream, next)`` of one table, found once."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._cursors: dict[tuple[str, int], str | None] = {}  # (stream, next) → cursor

    def find(self, dt: _Delta, versions: Mapping[str, int]) -> dict[str, str | None]:
        """The cursor committed with each ``(stream, version)``, from the commit infos."""
        want = {(s, v) for s, v in versions.items() if (s, v) not in self._cursors}
        for limit in HISTORY_WINDOWS:
            if not want:
                break
            commits = dt.history(limit)
            for commit in commits:  # newest first: the first mention wins
                for s, p in commit_positions(commit).items():
                    self._cursors.setdefault((s, p.next), p.cursor)
            want = {k for k in want if k not in self._cursors}
            if limit is None or len(commits) < limit:
                break
        for key in want:  # not in the log any more (expired log files): no cursor
            log.warning("delta_cursor_not_found", table=self.label, stream=key[0], next=key[1])
            self._cursors[key] = None
        return {s: self._cursors.get((s, v)) for s, v in versions.items()}

    def remember(self, committed: Positions) -> None:
        """The positions this table's own commit just carried."""
        for s, p in committed.items():
            self._cursors[(s, p.next)] = p.cursor
