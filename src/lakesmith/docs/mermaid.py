"""Small helpers that write Mermaid flowchart text safely (ids, quoted labels)."""

from __future__ import annotations

import re
from collections.abc import Iterable

_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


def node_id(*parts: str) -> str:
    """A Mermaid node id from any text (``silver.iot_telemetry`` → ``silver_iot_telemetry``)."""
    return "_".join(_UNSAFE.sub("_", p) for p in parts)


def text(value: str) -> str:
    """Label text: characters Mermaid would read as syntax become entities."""
    return (
        value.replace("&", "&amp;").replace('"', "#quot;").replace("<", "&lt;").replace(">", "&gt;")
    )


def label(title: str, *lines: str) -> str:
    """``"<b>title</b><br/>line<br/>line"`` (each part escaped)."""
    body = [f"<b>{text(title)}</b>", *(text(line) for line in lines if line)]
    return '"' + "<br/>".join(body) + '"'


def wrap(items: Iterable[str], per_line: int = 4) -> list[str]:
    """Items joined by commas, ``per_line`` to a line (long lists stay readable)."""
    items = list(items)
    return [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]


def block(kind: str, lines: Iterable[str]) -> str:
    """A fenced ``mermaid`` block: ``kind`` (``flowchart LR``, ``erDiagram``) then the lines."""
    body = "\n".join(f"    {line}" for line in lines)
    return f"```mermaid\n{kind}\n{body}\n```"
