"""Records added at once (``RawBatch.add_records``: a file's clean CSV blocks, SQL rows)
get their envelope and positions from their runs, not from per-record lists: the same
``_record_id``, ``_source``, seqs, payloads, timestamps and positions as the same records
added one list at a time (``RawBatch.extend``)."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
from polars.testing import assert_frame_equal

from lakesmith.bronze.envelope import envelope
from lakesmith.core.positions import Position
from lakesmith.core.records import RawBatch

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
STREAM = "file:///drop/x.csv@100-7"


def _added_at_once(first: int, n: int, ts: int | None) -> RawBatch:
    batch = RawBatch(source="file:///drop/x.csv", uri_sep="#row=")
    records = pl.DataFrame({"c0": [f"v{i}" for i in range(n)]})
    payloads = pl.Series("_payload", [f"line {i}".encode() for i in range(n)], pl.Binary)
    batch.add_records(STREAM, first, records, payloads, timestamp_ms=ts)
    return batch


def _as_lists(batch: RawBatch) -> RawBatch:
    """The same records, added as per-record lists."""
    other = RawBatch(source=batch.source, uri_sep=batch.uri_sep)
    assert batch.record_payloads is not None
    payloads = batch.record_payloads.to_list()
    at = 0
    for run in batch.runs:
        seqs = list(range(run.first_seq, run.first_seq + run.n))
        other.extend(
            batch.streams[run.stream_id], seqs, payloads[at : at + run.n],
            timestamps_ms=[run.timestamp_ms] * run.n,
        )  # fmt: skip
        at += run.n
    return other


def test_envelope_and_positions_match_the_per_record_path() -> None:
    for first, n, ts in [(1, 5, 1_700_000_000_123), (41, 1, None), (0, 3, 0)]:
        batch = _added_at_once(first, n, ts)
        assert batch.first_seq == first
        fast = envelope(batch, "b1", NOW)
        slow = envelope(_as_lists(batch), "b1", NOW)
        assert_frame_equal(fast, slow)
        assert fast["_seq"].to_list() == list(range(first, first + n))
        assert fast["_source"][0] == f"{STREAM}#row={first}"
        assert batch.next_positions() == {STREAM: Position(first + n)}
        assert batch.next_positions() == _as_lists(batch).next_positions()
        assert batch.batch_id() == _as_lists(batch).batch_id()


def test_records_added_one_list_at_a_time_are_unchanged() -> None:
    batch = RawBatch(source="kafka://t", uri_sep="/")
    batch.extend("kafka://t/0", [7, 3, 9], [b"a", b"b", None], [b"k", None, None], [1, 2, 3])
    assert batch.first_seq is None
    env = envelope(batch, "b2", NOW)
    assert env["_seq"].to_list() == [7, 3, 9]
    assert batch.next_positions() == {"kafka://t/0": Position(10)}


def test_runs_of_several_streams_match_the_per_record_path() -> None:
    batch = RawBatch(source="file:///drop/", uri_sep="#row=")
    for stream, first, n, ts in [
        ("a", 0, 3, 10),
        ("b", 5, 2, None),
        ("a", 3, 4, 10),
        ("c", 9, 1, 7),
    ]:
        records = pl.DataFrame({"c0": [f"{stream}{i}" for i in range(n)]})
        payloads = pl.Series("_payload", [f"{stream} {i}".encode() for i in range(n)], pl.Binary)
        batch.add_records(stream, first, records, payloads, timestamp_ms=ts)
    batch.add_records("d", 4, records.clear(), payloads.clear(), timestamp_ms=1)  # empty run
    assert len(batch) == 10 and batch.first_seq is None
    lists = _as_lists(batch)
    assert_frame_equal(envelope(batch, "b3", NOW), envelope(lists, "b3", NOW))
    assert batch.seq_column().to_list() == lists.seqs == [0, 1, 2, 5, 6, 3, 4, 5, 6, 9]
    assert batch.timestamp_column().to_list() == lists.timestamps_ms
    assert batch.stream_id_column().to_list() == lists.stream_ids
    assert batch.next_positions() == {"a": Position(7), "b": Position(7), "c": Position(10)}
    assert batch.next_positions() == lists.next_positions()
    assert batch.batch_id() == lists.batch_id()
