"""What every settings section shares: the section base and light checks of values that
are parsed later (durations, URLs, broker lists, warehouse locations)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

from lakesmith.contracts.model import parse_duration

Port = int  # validated by Field(ge=1, le=65535) where used


URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_BROKER = re.compile(
    r"^(?:(?:plaintext|ssl|sasl_plaintext|sasl_ssl)://)?"  # librdkafka's optional protocol
    r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$",
    re.IGNORECASE,
)


def check_duration(value: str) -> str:
    try:
        parse_duration(value)
    except ValueError:
        raise ValueError("expected a duration: 30s, 5m, 2h or 7d") from None
    return value


def check_http_url(value: str) -> str:
    parts = urlsplit(value)
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise ValueError("expected an http(s)://host[:port] URL")
    return value


def check_bootstrap(value: str) -> str:
    entries = value.split(",")
    for entry in entries:
        m = _BROKER.match(entry.strip())
        if m is None or not 1 <= int(m.group(1)) <= 65535:
            which = f"{entry.strip()!r} is not host:port; " if len(entries) > 1 else ""
            raise ValueError(
                f"{which}expected host:port[,host:port] (e.g. broker1:9092,broker2:9092)"
            )
    return value


def check_warehouse(value: str) -> str:
    expected = "expected a folder, file:///absolute/path or s3://bucket[/prefix]"
    if not value.strip():
        raise ValueError(expected)
    if "://" in value:
        parts = urlsplit(value)
        if parts.scheme == "s3" and parts.netloc:
            return value
        if parts.scheme == "file" and parts.netloc in ("", "localhost") and parts.path[:1] == "/":
            return value
        raise ValueError(expected)
    return value


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
