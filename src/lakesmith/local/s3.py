"""An S3-compatible server on loopback: ``moto[server]`` (MinIO in the compose stack).

moto keeps objects in memory. With ``local.s3_persist`` (the default) the server runs
through this module (``python -m lakesmith.local.s3``): buckets and objects are loaded
from ``<state dir>/local/s3/data/objects.db`` (SQLite) at start, every change is written
there within ``_SNAPSHOT_S`` seconds and once more on a clean stop, so the local lake on
S3 and the Kafka broker's ``s3://`` storage survive ``local down`` / ``local up``. A
``SIGKILL`` of the server loses at most the last ``_SNAPSHOT_S`` seconds of writes.

What is kept: the latest version of every object (bytes, ETag, last-modified time,
content type and user metadata) per bucket and region. Not kept: object versions, ACLs,
tags, bucket policies and unfinished multipart uploads.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import signal
import sqlite3
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

from lakesmith.core.errors import MissingBinaryError
from lakesmith.local.process import LocalService

_SNAPSHOT_S = 0.5
_DB_NAME = "objects.db"


class S3Service(LocalService):
    name = "s3"

    @property
    def port(self) -> int:
        return self.settings.local.s3_port

    @property
    def persistent(self) -> bool:
        return self.settings.local.s3_persist

    def command(self) -> list[str]:
        if importlib.util.find_spec("moto") is None or importlib.util.find_spec("flask") is None:
            raise MissingBinaryError(
                "the S3 server (package moto[server]) is not installed",
                hint="uv sync --extra local (make setup does this)",
            )
        if self.persistent:
            return [
                sys.executable, "-m", "lakesmith.local.s3",
                "--host", self.host, "--port", str(self.port),
                "--db", str(self.data_dir / _DB_NAME),
            ]  # fmt: skip
        return [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)]

    def is_healthy(self) -> bool:
        with urllib.request.urlopen(f"http://{self.host}:{self.port}/", timeout=2) as resp:
            return bool(resp.status == 200)


# -- the persistent server (runs in its own process) ---------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets (
    account TEXT NOT NULL, name TEXT NOT NULL, region TEXT NOT NULL,
    PRIMARY KEY (account, name));
CREATE TABLE IF NOT EXISTS objects (
    account TEXT NOT NULL, bucket TEXT NOT NULL, key TEXT NOT NULL,
    etag TEXT NOT NULL, last_modified TEXT NOT NULL, metadata TEXT NOT NULL, value BLOB NOT NULL,
    PRIMARY KEY (account, bucket, key));
"""


class _Persister:
    """Mirrors moto's S3 buckets and objects into one SQLite file, incrementally.

    A PUT in moto makes a new key object, so "changed since the last snapshot" is an
    identity check against the key objects written last time; each bucket's keys are
    listed in one step (``list(dict.items(…))`` runs without releasing the GIL), so a
    snapshot never holds an object written after a later one of the same bucket.
    """

    def __init__(self, db: Path) -> None:
        db.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(db, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(_SCHEMA)
        self.buckets: dict[tuple[str, str], str] = {}  # (account, bucket) -> region
        self.keys: dict[tuple[str, str, str], Any] = {}  # (account, bucket, key) -> FakeKey
        self.lock = threading.Lock()

    @staticmethod
    def _backends() -> list[tuple[str, Any]]:
        from moto.s3.models import s3_backends

        out = []
        for account, by_partition in list(s3_backends.items()):
            for _, backend in list(by_partition.items()):
                out.append((account, backend))
        return out

    def load(self) -> tuple[int, int]:
        """Recreate the stored buckets and objects in moto; ``(buckets, objects)``."""
        from moto.s3.models import s3_backends

        buckets = self.conn.execute("SELECT account, name, region FROM buckets").fetchall()
        for account, name, region in buckets:
            s3_backends[account]["aws"].create_bucket(name, region)
            self.buckets[(account, name)] = region
        n = 0
        rows = self.conn.execute(
            "SELECT account, bucket, key, etag, last_modified, metadata, value FROM objects"
        )
        for account, bucket, key, etag, modified, metadata, value in rows:
            backend = s3_backends[account]["aws"]
            if (account, bucket) not in self.buckets:
                continue
            obj = backend.put_object(bucket, key, bytes(value), disable_notification=True)
            obj._etag = etag.strip('"')
            obj.last_modified = dt.datetime.fromisoformat(modified)
            obj.set_metadata(json.loads(metadata), replace=True)
            self.keys[(account, bucket, key)] = obj
            n += 1
        return len(buckets), n

    def snapshot(self) -> int:
        """Write what changed since the last snapshot; returns the number of changes."""
        with self.lock:
            return self._snapshot()

    def _snapshot(self) -> int:
        now_buckets: dict[tuple[str, str], str] = {}
        now_keys: dict[tuple[str, str, str], Any] = {}
        for account, backend in self._backends():
            for name, bucket in list(backend.buckets.items()):
                now_buckets[(account, name)] = bucket.region_name
                for key, versions in list(dict.items(bucket.keys)):
                    if versions:
                        now_keys[(account, name, key)] = versions[-1]
        upserts: list[tuple[Any, ...]] = []
        for ident, obj in now_keys.items():
            if self.keys.get(ident) is obj:
                continue
            try:
                value = obj.value
                etag = obj.etag
            except ValueError:  # disposed (overwritten) meanwhile: the next pass has it
                continue
            meta = {k: v for k, v in obj.metadata.items() if isinstance(v, str)}
            upserts.append(
                (*ident, etag, obj.last_modified.isoformat(), json.dumps(meta), value, obj)
            )
        deleted = [k for k in self.keys if k not in now_keys]
        new_buckets = [(*b, r) for b, r in now_buckets.items() if self.buckets.get(b) != r]
        gone_buckets = [b for b in self.buckets if b not in now_buckets]
        if not (upserts or deleted or new_buckets or gone_buckets):
            return 0
        with self.conn:
            self.conn.executemany(
                "INSERT OR REPLACE INTO buckets (account, name, region) VALUES (?, ?, ?)",
                new_buckets,
            )
            self.conn.executemany(
                "INSERT OR REPLACE INTO objects "
                "(account, bucket, key, etag, last_modified, metadata, value) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [u[:-1] for u in upserts],
            )
            self.conn.executemany(
                "DELETE FROM objects WHERE account = ? AND bucket = ? AND key = ?", deleted
            )
            self.conn.executemany(
                "DELETE FROM buckets WHERE account = ? AND name = ?", gone_buckets
            )
        for u in upserts:
            self.keys[(u[0], u[1], u[2])] = u[-1]
        for k in deleted:
            del self.keys[k]
        self.buckets = now_buckets
        return len(upserts) + len(deleted) + len(new_buckets) + len(gone_buckets)


def serve(host: str, port: int, db: Path) -> None:
    """Run moto on ``host:port`` with its S3 state kept in ``db`` until SIGTERM/SIGINT."""
    from moto.server import ThreadedMotoServer

    persister = _Persister(db)
    buckets, objects = persister.load()
    print(f"loaded {buckets} bucket(s), {objects} object(s) from {db}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    print(f"serving S3 on http://{host}:{port}", flush=True)
    try:
        while not stop.wait(_SNAPSHOT_S):
            persister.snapshot()
    finally:
        server.stop()  # no request is served any more: the last snapshot is complete
        persister.snapshot()
        persister.conn.close()
        print("stopped; state saved", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="moto's S3 server, persisted to SQLite")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", type=Path, required=True)
    args = parser.parse_args(argv)
    serve(args.host, args.port, args.db)


if __name__ == "__main__":
    main()
