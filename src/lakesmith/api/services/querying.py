"""Turning query-string filters into typed conditions: ``?col=v``, ``?col__gte=v``,
``?col__in=a,b``, ``?sort=-col,other``, ``?columns=a,b``, ``?limit=`` and an opaque
``?cursor=``. Every column name is checked against the known columns first."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, cast

from lakesmith.api.errors import InvalidError
from lakesmith.stores.gold_repository import CompareOp, Condition, Order

RESERVED = {"limit", "cursor", "sort", "columns"}
OPS: set[str] = {"eq", "ne", "gt", "gte", "lt", "lte", "in", "contains", "isnull"}
MAX_IN = 500


def parse_value(kind: str, text: str, column: str) -> Any:
    """``text`` as a value of a column of ``kind`` (lake kinds or PostgreSQL type names)."""
    k = kind.lower()
    try:
        if k in ("long", "int", "bigint", "integer", "smallint"):
            return int(text)
        if k in ("double", "double precision", "real") or k.startswith("numeric"):
            return float(text)
        if k in ("boolean", "bool"):
            low = text.lower()
            if low not in ("true", "false", "1", "0"):
                raise ValueError(text)
            return low in ("true", "1")
        if k == "date":
            return date.fromisoformat(text)
        if k in ("timestamp",) or k.startswith("timestamp"):
            t = datetime.fromisoformat(text.replace("Z", "+00:00"))
            return t
    except ValueError:
        raise InvalidError(f"{column}: {text[:60]!r} is not a valid {kind} value") from None
    if len(text) > 1000:
        raise InvalidError(f"{column}: the value is longer than 1000 characters")
    return text


def conditions(params: Sequence[tuple[str, str]], kinds: Mapping[str, str]) -> list[Condition]:
    out: list[Condition] = []
    for key, text in params:
        if key in RESERVED:
            continue
        column, _, op = key.partition("__")
        op = op or "eq"
        if column not in kinds:
            raise InvalidError(f"unknown column {column!r}; known: {', '.join(sorted(kinds))}")
        if op not in OPS:
            raise InvalidError(
                f"unknown operator {op!r} in {key!r}; use one of {', '.join(sorted(OPS))}"
            )
        value: Any
        if op == "in":
            parts = [p for p in text.split(",") if p != ""]
            if not parts or len(parts) > MAX_IN:
                raise InvalidError(f"{key}: give 1 to {MAX_IN} comma-separated values")
            value = [parse_value(kinds[column], p, column) for p in parts]
        elif op == "isnull":
            value = parse_value("boolean", text, key)
        elif op == "contains":
            value = parse_value("text", text, column)
        else:
            value = parse_value(kinds[column], text, column)
        out.append(Condition(column, cast(CompareOp, op), value))
    return out


def columns(text: str | None, known: Sequence[str]) -> list[str]:
    if not text:
        return list(known)
    wanted = [c.strip() for c in text.split(",") if c.strip()]
    unknown = [c for c in wanted if c not in known]
    if unknown:
        raise InvalidError(
            f"unknown column(s) {', '.join(map(repr, unknown))}; known: {', '.join(known)}"
        )
    return list(dict.fromkeys(wanted))


def ordering(text: str | None, known: Sequence[str], default: Sequence[str]) -> list[Order]:
    if not text:
        return [Order(c) for c in default]
    out = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name = part.lstrip("-+")
        if name not in known:
            raise InvalidError(f"cannot sort by unknown column {name!r}")
        out.append(Order(name, descending=part.startswith("-")))
    for c in default:  # a total order, so pages never overlap
        if all(o.column != c for o in out):
            out.append(Order(c))
    return out


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        offset = json.loads(raw)["o"]
    except (ValueError, KeyError, TypeError):
        raise InvalidError("the cursor is not one this API returned") from None
    if not isinstance(offset, int) or offset < 0:
        raise InvalidError("the cursor is not one this API returned")
    return offset
