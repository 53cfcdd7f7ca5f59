"""When the worker hands freed memory back to the system (``Worker(trim_memory=...)``).

Trimming after every batch keeps a long-running stream's resident memory flat, but the
next batch faults every page in again and the kernel zeroes it: ~30 % of an ingest's
CPU (perf). Never trimming reuses the pages, but glibc's arenas keep the holes a batch
leaves, and over a long file the peak grows with the file (+28 % from 50 MB to 500 MB in
CI). ``TrimPolicy`` sits between: trim every ``every`` batches, or sooner when the
resident memory after a batch passes ``above_bytes``. Most of the zeroing came from the
256 KiB mmap threshold (``bound_allocators``: every big buffer a fresh mapping), not from
the trim itself: trimming every 8 batches with that threshold kept ~old CPU (500 MB CSV,
32-34 s vs 33-36 s), without it 27-28 s; so only ``every=1`` sets the threshold.
"""

from __future__ import annotations

import ctypes
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa


def _glibc() -> ctypes.CDLL | None:
    """glibc, for its allocator controls (None elsewhere: musl, macOS)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


_LIBC = _glibc()
_M_MMAP_THRESHOLD = -3  # mallopt parameter (malloc.h)
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
WORKER_TRIM_EVERY = 8  # batches between the streaming worker's trims (``for_worker``)


def bound_allocators() -> None:
    """Allocations of 256 KiB and more (lists of a batch's records, NumPy arrays of the
    COPY encoding, librdkafka's fetch buffers) get their own mappings, returned to the
    system when freed, instead of glibc's dynamic threshold (up to 32 MiB) that leaves
    them as free holes in the heaps between batches."""
    if _LIBC is not None:
        _LIBC.mallopt(_M_MMAP_THRESHOLD, 256 * 1024)


def release_memory() -> None:
    """After a batch is written: the memory the allocators keep for reuse goes back to the
    system (glibc's free pages in every arena, Arrow's pool), so the next batch's peak is
    not stacked on the last one's leftovers. A few milliseconds per batch."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
    pa.default_memory_pool().release_unused()


def resident_bytes() -> int:
    """This process's resident memory now (0 where ``/proc`` is not there)."""
    try:
        return int(Path("/proc/self/statm").read_bytes().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


@dataclass(frozen=True)
class TrimPolicy:
    """Trim after every ``every``-th batch, or after any batch that leaves the process
    with more than ``above_bytes`` resident (None: no such check). ``every=1`` is the
    long-running worker's behaviour; its big allocations then also get their own
    mappings (``bound_allocators``), which only pays when memory is trimmed every time."""

    every: int = 1
    above_bytes: int | None = None

    @classmethod
    def for_worker(cls, above_mib: int) -> TrimPolicy:
        """The streaming worker's: every ``WORKER_TRIM_EVERY`` batches, or sooner above
        ``above_mib`` MiB resident; 0: after every batch, big allocations in their own
        mappings (the lowest peak; measured 7-9 % fewer events/s on the IoT benchmark,
        896-936 against 957 MiB at 2M events, ``bench_iot_e2e.py``)."""
        if above_mib <= 0:
            return cls()
        return cls(every=WORKER_TRIM_EVERY, above_bytes=above_mib * 1024 * 1024)

    @classmethod
    def of(cls, trim: bool | TrimPolicy) -> TrimPolicy | None:
        """``True`` → after every batch, ``False`` → never (None), a policy → itself."""
        if isinstance(trim, TrimPolicy):
            return trim
        return cls() if trim else None

    def due(self, batches_since_trim: int, resident: int | None = None) -> bool:
        """Whether to trim now, ``batches_since_trim`` batches after the last trim."""
        if batches_since_trim >= self.every:
            return True
        if self.above_bytes is None:
            return False
        return (resident_bytes() if resident is None else resident) > self.above_bytes


class Trimmer:
    """A worker's trimming state: call ``after_batch`` once a batch is written."""

    def __init__(self, policy: TrimPolicy | None) -> None:
        self.policy = policy
        self.since = 0  # batches since the last trim
        self.trims = 0

    def start(self) -> None:
        if self.policy is not None and self.policy.every == 1:
            bound_allocators()

    def after_batch(self) -> None:
        if self.policy is None:
            return
        self.since += 1
        if self.policy.due(self.since):
            release_memory()
            self.since = 0
            self.trims += 1
