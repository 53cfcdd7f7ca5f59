"""The bad events ``simulate music --bad-ratio`` injects, and the outcome each must get.

Each kind breaks one thing of an otherwise valid Eventsim line, so a test can assert the
pipeline reports exactly that rule id (``EXPECTED``): a truncated line is invalid JSON, an
unknown page fails ``page_known``, a listen with a negative length ``length_not_negative``,
a listen without its song ``song_when_next_song``, a ``ts`` a month ahead ``ts_window``,
an HTTP status of 999 ``status_range``, and a byte-for-byte re-sent line is a duplicate.

Bad lines are rare, so each is rewritten with orjson one by one (clear, not fast); the
valid lines pass through untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import orjson

# kind → the outcome the pipeline must report (a rule id of music.events or the decoder)
EXPECTED: dict[str, str] = {
    "malformed_json": "invalid_json",
    "unknown_page": "page_known",
    "negative_length": "length_not_negative",
    "listen_without_song": "song_when_next_song",
    "far_future": "ts_window",
    "bad_status": "status_range",
    "duplicate": "duplicate",
}
KINDS: tuple[str, ...] = tuple(EXPECTED)
_MONTH_MS = 30 * 86_400_000


def _listen(e: dict[str, Any]) -> dict[str, Any]:
    """``e`` as a complete listen (so only the broken field fails)."""
    e.update(page="NextSong", method="PUT", status=200)
    e["song"] = e.get("song") or "Yellow"
    e["artist"] = e.get("artist") or "Coldplay"
    e["length"] = e.get("length") or 266.0
    return e


_BREAK: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "unknown_page": lambda e: {**e, "page": "Jukebox"},
    "negative_length": lambda e: {**_listen(e), "length": -abs(e.get("length") or 266.0)},
    "listen_without_song": lambda e: {**_listen(e), "song": None},
    "far_future": lambda e: {**e, "ts": int(e["ts"]) + _MONTH_MS},
    "bad_status": lambda e: {**e, "status": 999},
}


def inject(lines: bytes, ratio: float, seed: int) -> tuple[bytes, list[tuple[int, str]]]:
    """``lines`` (JSON lines) with about ``ratio`` of them made bad, kinds in turn; returns
    the new lines and ``(line index, kind)`` of each bad one (a duplicate's index is the
    copy's). Same input and seed, same output."""
    rows = lines.rstrip(b"\n").split(b"\n") if lines.strip() else []
    if ratio <= 0 or not rows:
        return lines, []
    rng = np.random.default_rng(seed)
    count = min(len(rows), int(rng.binomial(len(rows), ratio)))
    picked = np.sort(rng.choice(len(rows), size=count, replace=False))
    kind_of = {int(i): KINDS[n % len(KINDS)] for n, i in enumerate(picked)}
    out: list[bytes] = []
    bad: list[tuple[int, str]] = []
    for i, line in enumerate(rows):
        kind = kind_of.get(i)
        if kind is None:
            out.append(line)
        elif kind == "duplicate":
            out.append(line)
            bad.append((len(out), kind))
            out.append(line)
        elif kind == "malformed_json":
            bad.append((len(out), kind))
            out.append(line[: max(1, len(line) // 2)])
        else:
            bad.append((len(out), kind))
            out.append(orjson.dumps(_BREAK[kind](orjson.loads(line))))
    return b"\n".join(out) + b"\n", bad
