"""The worker's trimming policy (``pipeline.memory``): ``lakesmith ingest`` hands freed
memory back every few batches or when the process grows past a share of its memory
limit, not after every batch (page zeroing) and not never (a peak growing with the file)."""

from __future__ import annotations

import pytest

from lakesmith.pipeline import memory
from lakesmith.pipeline.ingest import TRIM_ABOVE, TRIM_EVERY, IngestJob, ingest_trim
from lakesmith.pipeline.memory import Trimmer, TrimPolicy, resident_bytes

MiB = 1024 * 1024


def _trims(
    policy: TrimPolicy | None, residents: list[int], monkeypatch: pytest.MonkeyPatch
) -> list[int]:
    """The batches (1-based) after which ``policy`` trims, with these resident sizes."""
    done: list[int] = []
    batch = [0]
    monkeypatch.setattr(memory, "release_memory", lambda: done.append(batch[0]))
    monkeypatch.setattr(memory, "resident_bytes", lambda: residents[batch[0] - 1])
    trimmer = Trimmer(policy)
    for i in range(1, len(residents) + 1):
        batch[0] = i
        trimmer.after_batch()
    return done


def test_every_batch_never_and_every_n(monkeypatch: pytest.MonkeyPatch) -> None:
    small = [100 * MiB] * 10
    assert _trims(TrimPolicy.of(True), small, monkeypatch) == list(range(1, 11))
    assert _trims(TrimPolicy.of(False), small, monkeypatch) == []
    assert _trims(TrimPolicy(every=4), small, monkeypatch) == [4, 8]


def test_a_batch_above_the_threshold_trims_at_once_and_restarts_the_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    policy = TrimPolicy(every=4, above_bytes=600 * MiB)
    residents = [100, 700, 100, 100, 100, 100, 650, 100, 100, 100]
    got = _trims(policy, [r * MiB for r in residents], monkeypatch)
    assert got == [2, 6, 7]  # 2 and 7: above 600 MiB; 6: four batches after 2


def test_ingest_policy_follows_the_memory_limit() -> None:
    job = IngestJob(
        contract=None, files=[], batch_size=1000, inferred=True, memory_limit=2048 * MiB
    )  # type: ignore[arg-type]
    policy = ingest_trim(job)
    assert policy.every == TRIM_EVERY > 1
    assert policy.above_bytes == int(2048 * MiB * TRIM_ABOVE)


def test_resident_bytes_reads_this_process() -> None:
    rss = resident_bytes()
    assert rss == 0 or 10 * MiB < rss < 64 * 1024 * MiB
