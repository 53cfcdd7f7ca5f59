"""Throw-away settings for a local stack on free ports with a temporary state dir."""

from __future__ import annotations

import os
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


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a ``lakesmith`` subprocess using ``settings``' stack and lake:
    the ports, the state dir, the lake settings and small, fast batches (``extra`` wins)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKESMITH")}
    lake = settings.lake
    env.update(
        LAKESMITH_CONFIG="none",
        LAKESMITH__STATE_DIR=str(settings.state_dir),
        LAKESMITH__LOCAL__POSTGRES_PORT=str(settings.local.postgres_port),
        LAKESMITH__LOCAL__KAFKA_PORT=str(settings.local.kafka_port),
        LAKESMITH__LOCAL__S3_PORT=str(settings.local.s3_port),
        LAKESMITH__LOCAL__TYPESENSE_PORT=str(settings.local.typesense_port),
        LAKESMITH__LAKE__FORMAT=lake.format,
        LAKESMITH__LAKE__CATALOG=lake.catalog,
        LAKESMITH__WORKER__BATCH_SIZE="1000",
        LAKESMITH__WORKER__MAX_WAIT_S="0.5",
        LAKESMITH__WORKER__IDLE_TIMEOUT_S="1",
    )
    if lake.warehouse:
        env["LAKESMITH__LAKE__WAREHOUSE"] = lake.warehouse
    env.update(extra)
    return env
