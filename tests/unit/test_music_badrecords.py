"""``simulate music --bad-ratio``: every kind of injected fault ends with exactly the
outcome it is meant to get from the music.events contract, and nothing else is lost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from lakesmith.contracts import load_contract
from lakesmith.core.columns import DISPOSITION, RULE_IDS, SEQ
from lakesmith.core.records import RawBatch
from lakesmith.domains.music.badrecords import EXPECTED, KINDS, inject
from lakesmith.domains.music.simulator import MusicSimConfig, generate_frame, to_jsonl
from lakesmith.pipeline.process import process_batch
from lakesmith.silver.dedupe import DedupeIndex

CONTRACT = load_contract("music.events")
NOW = datetime.now(UTC).replace(microsecond=0)


def lines() -> bytes:
    start = NOW - timedelta(days=1)
    return to_jsonl(generate_frame(MusicSimConfig(users=30, days=0.5, seed=3, start=start)))


def test_every_kind_gets_its_outcome_and_valid_lines_pass() -> None:
    clean = lines()
    data, bad = inject(clean, 0.1, seed=11)
    assert {kind for _, kind in bad} == set(KINDS)
    assert inject(clean, 0.1, seed=11) == (data, bad)  # deterministic
    records = data.rstrip(b"\n").split(b"\n")
    duplicates = sum(kind == "duplicate" for _, kind in bad)
    assert len(records) == clean.count(b"\n") + duplicates
    raw = RawBatch(source="test://")
    raw.extend("s", list(range(len(records))), list(records))
    batch = process_batch(raw, CONTRACT, NOW, DedupeIndex(CONTRACT.keys), None)
    outcomes = batch.outcomes.sort(SEQ)
    for seq, kind in bad:
        row = outcomes.row(seq, named=True)
        if kind == "duplicate":
            assert row[DISPOSITION] == "duplicate", (seq, kind, row)
        else:
            assert row[RULE_IDS] == [EXPECTED[kind]], (seq, kind, row)
    faulty = {seq for seq, _ in bad}
    rest = outcomes.filter(~pl.col(SEQ).is_in(list(faulty)))
    assert rest[DISPOSITION].unique().to_list() == ["valid"]  # the untouched lines pass
    assert batch.silver.height + batch.quarantine.height + duplicates == len(records)


def test_no_ratio_no_change() -> None:
    clean = lines()
    assert inject(clean, 0.0, seed=1) == (clean, [])
    assert inject(b"", 0.5, seed=1) == (b"", [])
