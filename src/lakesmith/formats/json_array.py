"""Split a file holding one top-level JSON array into its elements, streamed in blocks.

``split_array(file, max_bytes)`` reads 8 MiB blocks and finds the element boundaries with
NumPy, never with a per-byte Python loop, carrying three numbers from block to block:
the bracket depth, whether the block ended inside a string, and whether it ended after
an odd run of backslashes (an escaped quote across the boundary). Per block:

- quotes preceded by an odd run of backslashes are escaped; the others toggle "inside a
  string" (parity of their cumulative count);
- ``[``/``{`` and ``]``/``}`` outside strings move the depth (cumulative sum); a comma
  outside strings at depth 1 ends an element, the bracket that brings the depth back to 0
  ends the array.

Memory stays one block plus the open element. The elements are delivered as their raw
text (whitespace around them stripped) with their index (``seq``); an element longer than
``max_bytes`` is delivered truncated to ``max_bytes + 1`` bytes (so it is quarantined as
``payload_too_large``) and the rest of it is scanned, not held. What the splitter cannot
judge (a malformed element, a trailing comma's empty element) is delivered as it stands,
so decoding quarantines it with its index and reason; a file that is not an array, ends
before the array does (cut short) or has data after it raises ``InputError`` (the
records before are delivered; a batch is committed whole or not at all). A bracket left
open inside an element swallows the rest of the array into that element, which is then
quarantined as too large (as a stray quote in CSV would, without the line breaks to
recover at).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from typing import BinaryIO

import numpy as np

from lakesmith.core.errors import InputError

BLOCK_BYTES = 8 * 1024 * 1024
_BOM = b"\xef\xbb\xbf"
_WS = b" \t\r\n"
_QUOTE, _BACKSLASH, _COMMA = ord('"'), ord("\\"), ord(",")
_OPEN = np.zeros(256, dtype=np.int8)
_OPEN[[ord("["), ord("{")]] = 1
_OPEN[[ord("]"), ord("}")]] = -1
_STRUCTURAL = np.zeros(256, dtype=bool)
_STRUCTURAL[[ord("["), ord("{"), ord("]"), ord("}"), _COMMA]] = True


def first_block(file: BinaryIO, block_bytes: int = BLOCK_BYTES) -> bytes:
    """The file's first block from its first byte that is not a BOM or whitespace (empty:
    the file holds nothing else)."""
    data = file.read(block_bytes)
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    while data:
        stripped = data.lstrip(_WS)
        if stripped:
            return stripped
        data = file.read(block_bytes)
    return b""


class _Scanner:
    """The string/depth state of the array between blocks."""

    def __init__(self) -> None:
        self.depth = 1  # inside the top-level array
        self.in_string = False
        self.odd_backslashes = False  # the previous block ended with an odd run of them

    def boundaries(self, arr: np.ndarray) -> tuple[np.ndarray, int]:
        """Offsets in ``arr`` of the commas ending elements, and of the array's closing
        bracket (-1: not in this block). Only the quotes, backslashes and structural
        characters' positions are materialised (sparse), not a per-byte state."""
        quotes = np.flatnonzero(arr == _QUOTE)
        bs = np.flatnonzero(arr == _BACKSLASH)
        odd_carry = int(self.odd_backslashes)
        self.odd_backslashes = False
        real = quotes
        if bs.size:
            first = np.ones(bs.size, dtype=bool)
            first[1:] = np.diff(bs) != 1
            run_start = bs[np.maximum.accumulate(np.where(first, np.arange(bs.size), 0))]
            if quotes.size:
                k = np.minimum(np.searchsorted(bs, quotes - 1), bs.size - 1)
                hit = bs[k] == quotes - 1  # a backslash right before the quote
                run = np.where(hit, quotes - run_start[k], 0)
                run = run + (((quotes - run) == 0) & odd_carry)  # a run from the last block
                real = quotes[(run & 1) == 0]
            if bs[-1] == arr.size - 1:  # the block ends with a run of backslashes
                tail = int(arr.size - run_start[-1]) + (odd_carry if run_start[-1] == 0 else 0)
                self.odd_backslashes = bool(tail & 1)
        elif odd_carry and quotes.size and quotes[0] == 0:
            real = quotes[1:]  # escaped by the run that ended the last block
        elif arr.size == 0:
            self.odd_backslashes = bool(odd_carry)
        marks = np.flatnonzero(_STRUCTURAL[arr])
        outside = ((np.searchsorted(real, marks) + self.in_string) & 1) == 0
        marks = marks[outside]
        self.in_string = bool((real.size + self.in_string) & 1)
        chars = arr[marks]
        depth = self.depth + np.cumsum(_OPEN[chars].astype(np.int64))
        ended = np.flatnonzero(depth <= 0)
        stop = int(ended[0]) if ended.size else marks.size
        close = int(marks[stop]) if ended.size else -1
        commas = marks[:stop][(chars[:stop] == _COMMA) & (depth[:stop] == 1)]
        self.depth = int(depth[-1]) if depth.size else self.depth
        return commas, close


def _extend(element: bytearray, data: bytes, a: int, b: int, max_bytes: int) -> bytearray:
    """``element`` + ``data[a:b]``, leading whitespace dropped, kept to ``max_bytes + 1``
    bytes (the rest of an oversized element is scanned, not held)."""
    room = max_bytes + 1 - len(element)
    if room > 0:
        piece = data[a:b]
        element += piece[:room] if element else piece.lstrip(_WS)[:room]
    return element


def split_array(
    file: BinaryIO, max_bytes: int, block_bytes: int = BLOCK_BYTES
) -> Iterator[tuple[int, list[bytes]]]:
    """The elements of the JSON array in ``file``, block by block: ``(seq of the first,
    elements)``."""
    data = first_block(file, block_bytes)
    if not data:
        return  # an empty file: no records
    if data[:1] != b"[":
        shown = data[:20].decode("utf-8", "replace")
        raise InputError(
            f"not a JSON array: the file starts with {shown!r}",
            hint="a .json file holds one array of records; use --format jsonl for JSON lines",
        )
    data = data[1:] or file.read(block_bytes)
    scanner = _Scanner()
    seq = 0
    element = bytearray()  # the open element's text so far (at most max_bytes + 1 bytes)
    while data:
        arr = np.frombuffer(data, dtype=np.uint8)
        commas, close = scanner.boundaries(arr)
        ends = commas.tolist() + ([close] if close >= 0 else [])
        out: list[bytes] = []
        if ends:  # the open element ends at the first cut; whole elements between the others
            out.append(bytes(_extend(element, data, 0, ends[0], max_bytes).strip(_WS)))
            out += [data[a + 1 : b].strip(_WS) for a, b in pairwise(ends)]
            element = bytearray()
        if close < 0:
            _extend(element, data, ends[-1] + 1 if ends else 0, len(data), max_bytes)
        lens = np.fromiter(map(len, out), dtype=np.int64, count=len(out))
        for i in np.flatnonzero(lens > max_bytes).tolist():
            out[i] = out[i][: max_bytes + 1]
        if close >= 0:
            if len(out) == 1 and not out[0] and seq == 0:
                out = []  # ``[]``: no elements
            if out:
                yield seq, out
            rest = data[close + 1 :].strip(_WS) or file.read(block_bytes).strip(_WS)
            while not rest:
                more = file.read(block_bytes)
                if not more:
                    return
                rest = more.strip(_WS)
            raise InputError(
                "data after the end of the JSON array",
                hint="a .json file holds exactly one array",
            )
        if out:
            yield seq, out
            seq += len(out)
        data = file.read(block_bytes)
    raise InputError(
        f"the JSON array is not closed: the file ends inside element {seq} (cut short?)",
        hint="the elements before it are read; check how the file was written or copied",
    )
