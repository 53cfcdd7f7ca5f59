"""Throw-away settings for a local stack on free ports with a temporary state dir."""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path
from typing import Any

from lakesmith.config import Settings, load_settings


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct ports that are free right now (bound together, then released)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def make_state_dir(prefix: str = "lakesmith-test-") -> Path:
    """A temporary state dir under /tmp that an unprivileged PostgreSQL user can reach."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    return path


def local_stack_settings(state_dir: Path, **overrides: Any) -> Settings:
    pg, kafka, ts, ts_peer, s3 = free_ports(5)
    local = {
        "postgres_port": pg,
        "kafka_port": kafka,
        "typesense_port": ts,
        "typesense_peering_port": ts_peer,
        "s3_port": s3,
        **overrides.pop("local", {}),
    }
    return load_settings(state_dir=state_dir, local=local, **overrides)
