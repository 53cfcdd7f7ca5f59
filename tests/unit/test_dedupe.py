"""The natural-key dedupe index: duplicates in a batch and across batches, replays that
are not duplicates, keys whose first hash collides, chunk merging, and its size."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from lakesmith.silver import dedupe
from lakesmith.silver.dedupe import DedupeIndex

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def rows(*items: tuple[str, int, str]) -> pl.DataFrame:
    """(device, second, record id) rows."""
    return pl.DataFrame(
        {
            "device_id": [d for d, _, _ in items],
            "ts": [T0 + timedelta(seconds=s) for _, s, _ in items],
            "_record_id": [r for _, _, r in items],
        }
    )


def ids(frame: pl.DataFrame) -> list[str]:
    return frame["_record_id"].to_list()


def test_duplicates_in_a_batch_and_across_batches() -> None:
    index = DedupeIndex(["device_id", "ts"])
    firsts, dups = index.split(rows(("a", 1, "r1"), ("a", 1, "r2"), ("b", 1, "r3")))
    assert (ids(firsts), ids(dups)) == (["r1", "r3"], ["r2"])
    firsts, dups = index.split(rows(("b", 1, "r4"), ("a", 2, "r5"), ("a", 1, "r6")))
    assert (ids(firsts), ids(dups)) == (["r5"], ["r4", "r6"])
    assert len(index) == 3 and index.nbytes == 3 * 28


def test_a_replayed_batch_gets_the_same_answer() -> None:
    index = DedupeIndex(["device_id", "ts"])
    batch = rows(("a", 1, "r1"), ("a", 1, "r2"), ("b", 1, "r3"))
    first = index.split(batch)
    again = index.split(batch)  # the worker crashed after the sinks: the batch comes again
    assert [ids(f) for f in again] == [ids(f) for f in first] == [["r1", "r3"], ["r2"]]
    assert len(index) == 2  # nothing claimed twice


def test_primed_keys_are_claimed_by_their_records() -> None:
    index = DedupeIndex(["device_id", "ts"])
    index.add(rows(("a", 1, "r1"), ("b", 1, "r2")))  # what silver holds after a restart
    firsts, dups = index.split(rows(("a", 1, "r1"), ("b", 1, "r9"), ("c", 1, "r3")))
    assert (ids(firsts), ids(dups)) == (["r1", "r3"], ["r9"])


def test_no_keys_means_no_duplicates_and_no_memory() -> None:
    index = DedupeIndex([])
    batch = rows(("a", 1, "r1"), ("a", 1, "r2"))
    firsts, dups = index.split(batch)
    assert ids(firsts) == ["r1", "r2"] and dups.height == 0 and len(index) == 0


def test_keys_sharing_their_first_hash_are_told_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    """Force every key's first hash into 2 values: the second hash must keep distinct
    keys apart (no record lost) and still find the real duplicates."""
    real = DedupeIndex._hashes

    def weak(self: DedupeIndex, frame: pl.DataFrame) -> tuple[np.ndarray, ...]:
        h1, h2, rid, t = real(self, frame)
        return h1 % np.uint64(2), h2, rid, t

    monkeypatch.setattr(DedupeIndex, "_hashes", weak)
    index = DedupeIndex(["device_id", "ts"])
    batch = rows(*[(f"d{i}", i, f"r{i}") for i in range(50)])
    firsts, dups = index.split(batch)
    assert firsts.height == 50 and dups.height == 0
    later = rows(*[(f"d{i}", i, f"x{i}") for i in range(0, 100, 2)])
    firsts, dups = index.split(later)
    assert sorted(ids(dups)) == sorted(f"x{i}" for i in range(0, 50, 2))
    assert sorted(ids(firsts)) == sorted(f"x{i}" for i in range(50, 100, 2))
    again = index.split(batch)  # replays of the first claimers are still not duplicates
    assert again[0].height == 50
    # keys sharing a first hash, repeated inside one batch: the first occurrence of each
    # (in input order) is kept, whatever order the hashes put them in
    fresh = DedupeIndex(["device_id", "ts"])
    keys = [(f"k{i % 7}", i % 7) for i in range(40)]
    firsts, dups = fresh.split(rows(*[(d, t, f"z{i}") for i, (d, t) in enumerate(keys)]))
    assert ids(firsts) == [f"z{i}" for i in range(7)]
    assert ids(dups) == [f"z{i}" for i in range(7, 40)]


def test_many_batches_merge_chunks_and_keep_every_claim(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dedupe, "_MAX_CHUNKS", 3)
    index = DedupeIndex(["device_id", "ts"])
    for b in range(10):
        firsts, dups = index.split(rows(*[("a", b * 10 + i, f"r{b}-{i}") for i in range(10)]))
        assert firsts.height == 10 and dups.height == 0
    assert len(index._chunks) <= 4 and len(index) == 100
    firsts, dups = index.split(rows(*[("a", s, f"y{s}") for s in range(0, 100, 7)]))
    assert firsts.height == 0 and dups.height == 15


def test_memory_is_28_bytes_a_key() -> None:
    n = 200_000
    frame = pl.DataFrame(
        {
            "device_id": [f"device-{i % 997:04d}" for i in range(n)],
            "ts": pl.datetime_range(
                T0, T0 + timedelta(seconds=n - 1), "1s", eager=True, time_zone="UTC"
            ),
            "_record_id": [f"k:3fa2c1d9:{i % 6}:{i}" for i in range(n)],
        }
    )
    index = DedupeIndex(["device_id", "ts"])
    index.add(frame)
    assert index.nbytes == 28 * n
    firsts, dups = index.split(frame.slice(1000, 5000))
    assert firsts.height == 5000 and dups.height == 0  # a replay


def test_keys_older_than_the_window_are_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    """A long stream holds one window of keys, as a restarted worker primes: memory stops
    growing with the rows, and a late duplicate older than the window passes (the same
    answer a restart would give); keys inside the window are still caught."""
    monkeypatch.setattr(dedupe, "_MAX_CHUNKS", 3)
    index = DedupeIndex(["device_id", "ts"], "ts", timedelta(seconds=100))
    for b in range(30):  # 30 batches of 10 keys, 10 s apart: 300 s of event time
        firsts, _ = index.split(rows(*[("a", b * 10 + i, f"r{b}-{i}") for i in range(10)]))
        assert firsts.height == 10
        assert len(index) <= 101 + 3 * 10  # the window, plus the chunks since the merge
    firsts, dups = index.split(rows(("a", 5, "late"), ("a", 250, "again")))
    assert ids(firsts) == ["late"]  # second 5: long out of the window (newest is 299)
    assert ids(dups) == ["again"]  # second 250: inside it


def test_without_a_window_nothing_is_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dedupe, "_MAX_CHUNKS", 3)
    index = DedupeIndex(["device_id", "ts"])
    for b in range(30):
        index.split(rows(*[("a", b * 10 + i, f"r{b}-{i}") for i in range(10)]))
    assert len(index) == 300
    _, dups = index.split(rows(("a", 5, "late")))
    assert ids(dups) == ["late"]


def test_rows_without_an_event_time_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dedupe, "_MAX_CHUNKS", 3)
    index = DedupeIndex(["device_id"], "ts", timedelta(seconds=1))
    frame = pl.DataFrame(
        {"device_id": ["a", "b"], "ts": [None, T0], "_record_id": ["r1", "r2"]},
        schema_overrides={"ts": pl.Datetime("us", "UTC")},
    )
    index.split(frame)
    for b in range(10):  # merges that drop "b" (an hour old) but keep "a" (no time)
        index.split(rows(*[(f"d{b}-{i}", 3600 + b, f"x{b}-{i}") for i in range(5)]))
    _, dups = index.split(rows(("a", 0, "r9"), ("b", 0, "r8")))
    assert ids(dups) == ["r9"]
