"""JSON lines read as columns: the lines of a clean block become one Binary Series of
*views* into the block (Arrow's binary-view layout), not one Python bytes object per line.

Splitting a block with ``bytes.split`` and then cleaning the lines (CRLF, blank lines) in
Python cost ~1.2 µs a line, and the lines were copied twice more on their way to a
Polars column; here the line boundaries are found with NumPy and the Series points into
the block as read (~0.1 µs a line; the block stays alive as long as a line of it does).

A block is *clean* when no line is longer than ``max_bytes`` and no line starts with
whitespace (a whitespace-only line is blank, which ``formats.jsonl._normalise`` decides
line by line) and it holds at most 64 empty lines. Empty lines end a run: each run's
lines have consecutive seqs, and becomes one frame of the batch. A trailing
``\\r`` is dropped as in ``jsonl.read``. Other blocks are declined and split as bytes.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import polars as pl
import pyarrow as pa

_NL, _CR = 10, 13
_SPACE_BYTES = np.array([9, 10, 11, 12, 13, 32], dtype=np.uint8)  # what bytes.isspace() is
_INLINE = 12  # a binary view holds values up to 12 bytes inline, longer ones by offset
_MAX_RUNS = 64  # blank lines in a block beyond which it is split as bytes
_AR4 = np.arange(4)
_AR12 = np.arange(_INLINE)


def line_views(buf: bytes | memoryview, starts: np.ndarray, lens: np.ndarray) -> pl.Series:
    """``buf[starts[i] : starts[i] + lens[i]]`` for every i, as a Binary Series whose long
    values point into ``buf`` (no copy). Arrow's view: int32 length, then the value itself
    when it fits 12 bytes, else its first 4 bytes, buffer index 0 and int32 offset."""
    arr = np.frombuffer(buf, dtype=np.uint8)
    n = len(starts)
    views = np.zeros((n, 4), dtype=np.int32)
    views[:, 0] = lens
    raw = views.view(np.uint8)
    short = lens <= _INLINE
    if short.any():
        s, k = starts[short], lens[short]
        idx = np.minimum(s[:, None] + _AR12, max(len(arr) - 1, 0))
        inline = arr[idx] if len(arr) else np.zeros(idx.shape, dtype=np.uint8)
        raw[short, 4:16] = np.where(k[:, None] > _AR12, inline, 0)
    long = ~short
    if long.any():
        s = starts[long]
        raw[long, 4:8] = arr[s[:, None] + _AR4]
        views[long, 3] = s
    array = pa.Array.from_buffers(
        pa.binary_view(), n, [None, pa.py_buffer(views), pa.py_buffer(buf)]
    )
    return pl.Series("_line", array)


def line_runs(
    lines: bytes | memoryview, max_bytes: int
) -> tuple[list[tuple[int, pl.Series]], int] | None:
    """The complete lines of a block (``lines``: without the newline after the last one)
    as runs of non-blank lines ``(index of the run's first line, its lines)``, and the
    number of lines; None when the block is not clean (see the module docstring)."""
    arr = np.frombuffer(lines, dtype=np.uint8)
    newlines = np.flatnonzero(arr == _NL)
    n = len(newlines) + 1
    starts = np.empty(n, dtype=np.int64)
    starts[0] = 0
    starts[1:] = newlines + 1
    ends = np.empty(n, dtype=np.int64)
    ends[:-1] = newlines
    ends[-1] = len(arr)
    ends -= (ends > starts) & (arr[np.maximum(ends - 1, 0)] == _CR)  # CRLF: drop the \r
    lens = ends - starts
    if int(lens.max()) > max_bytes:
        return None
    filled = lens > 0
    if np.isin(arr[starts[filled]], _SPACE_BYTES).any():
        return None
    blank = np.flatnonzero(~filled)
    if blank.size > _MAX_RUNS:  # each run is a frame to concatenate: bytes are cheaper then
        return None
    bounds = [-1, *blank.tolist(), n]
    runs = [(a + 1, b) for a, b in pairwise(bounds) if b > a + 1]
    return [(a, line_views(lines, starts[a:b], lens[a:b])) for a, b in runs], n
