"""What lakesmith keeps in a Delta transaction log, shared by ``stores.lake.delta`` (the
table) and ``stores.lake.delta_compact`` (its compaction): the app ids of the source
positions, the positions in commit infos, the live files, and the back-off between
conflicting commits. See ``stores.lake.delta`` for how positions and cursors are kept.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa
from deltalake import CommitProperties, Transaction
from deltalake import DeltaTable as _Delta

from lakesmith.core.positions import Position, Positions, dumps, loads

APP_PREFIX = "lakesmith:"  # app id of a stream: lakesmith:<stream>
CURSORS_APP = "lakesmith.cursors"  # set once by the first commit with a cursor (no stream
# app id can collide: those all start with "lakesmith:")
POSITIONS_KEY = "lakesmith.positions"  # commit info: the positions that commit advanced


def app_id(stream: str) -> str:
    """The app id of a stream's application transaction (``txn``)."""
    return APP_PREFIX + stream


def position_commit(
    dt: _Delta, positions: Mapping[str, Position]
) -> tuple[CommitProperties | None, Positions]:
    """What commits ``positions`` with the rows, for every writer of a table (append,
    replace): one app transaction per stream they advance, the advanced positions (with
    their cursors) in the commit info, and ``lakesmith.cursors`` the first time a cursor
    is committed. ``(None, {})`` when nothing advances."""
    committed = committed_versions(dt, positions)
    advanced = {s: p for s, p in positions.items() if s not in committed or p.next > committed[s]}
    if not advanced:
        return None, {}
    txns = [Transaction(app_id(s), p.next) for s, p in advanced.items()]
    if any(p.cursor is not None for p in advanced.values()) and (
        dt.transaction_version(CURSORS_APP) is None
    ):
        txns.append(Transaction(CURSORS_APP, 1))
    meta = {POSITIONS_KEY: dumps(advanced)}
    return CommitProperties(custom_metadata=meta, app_transactions=txns), advanced


def backoff(attempt: int) -> None:
    """Sleep a little before retrying a commit that lost to a concurrent one."""
    time.sleep(random.uniform(0.01, 0.2) * min(attempt + 1, 5))


def committed_versions(dt: _Delta, streams: Iterable[str]) -> dict[str, int]:
    """The committed ``next`` of each of ``streams`` (streams never committed are absent)."""
    out = {}
    for s in streams:
        v = dt.transaction_version(app_id(s))
        if v is not None:
            out[s] = int(v)
    return out


def commit_positions(commit: Mapping[str, Any]) -> Positions:
    """The positions a commit advanced, from its commit info (none or unreadable: empty)."""
    raw = commit.get(POSITIONS_KEY)
    if not isinstance(raw, str):
        return {}
    with contextlib.suppress(ValueError, TypeError, IndexError, KeyError):
        return loads(raw)
    return {}


def add_actions(dt: _Delta) -> list[dict[str, Any]]:
    """One dict per live data file: path, size_bytes, num_records, partition.<col>."""
    rows: list[dict[str, Any]] = pa.table(dt.get_add_actions(flatten=True)).to_pylist()
    return rows
