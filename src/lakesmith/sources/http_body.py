"""Reading a page's body and headers: dotted JSON paths (without decoding what is not
needed), the ``Link`` header, ``Retry-After``, and short excerpts for error messages."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import msgspec

_RAW_DICT = msgspec.json.Decoder(dict[str, msgspec.Raw])
_LINK_NEXT = re.compile(r'<([^>]*)>\s*;[^,]*\brel="?(?:[^",]*\s)?next\b')


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: an integer, or an HTTP date (RFC 9110); None if absent
    or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def next_link(header: str | None) -> str | None:
    """The ``rel="next"`` target of a ``Link`` header (RFC 8288), None when it has none."""
    match = _LINK_NEXT.search(header or "")
    return match.group(1) if match else None


def at_path(body: bytes, path: str) -> bytes | None:
    """The raw JSON at the dotted ``path`` of ``body`` (``""``: the body), None when a
    level is missing. Raises ``msgspec.DecodeError`` when the body is not JSON."""
    if not path:
        return body
    current: bytes = body
    for part in path.split("."):
        try:
            level = _RAW_DICT.decode(current)
        except msgspec.ValidationError:
            return None  # not an object at this level
        if part not in level:
            return None
        current = bytes(level[part])
    return current


def snippet(body: bytes) -> str:
    """The first 120 characters of ``body``, whitespace folded, quoted."""
    text = body[:120].decode("utf-8", errors="replace")
    return repr(" ".join(text.split()) + ("…" if len(body) > 120 else ""))


def top_keys(body: bytes) -> str:
    """The body's first top-level keys (what a wrong ``records_path`` should have named)."""
    try:
        return ", ".join(list(_RAW_DICT.decode(body))[:10]) or "none"
    except (msgspec.DecodeError, msgspec.ValidationError):
        return "not an object"
