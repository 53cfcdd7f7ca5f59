"""A small pool of PostgreSQL connections for a long-running server (the REST API).

psycopg's own pool is a separate package; this one is enough for a handful of request
threads: connections are opened lazily up to ``size``, handed out one at a time, checked
for a broken state when returned, and closed with the pool. Autocommit: every statement
is its own transaction unless the caller opens one (``with conn.transaction()``)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from lakesmith.config import Settings
from lakesmith.core.errors import ServiceUnavailableError
from lakesmith.stores.postgres import connect


class ConnectionPool:
    def __init__(self, settings: Settings, size: int = 8, timeout_s: float = 10.0) -> None:
        self.settings = settings
        self.size = size
        self.timeout_s = timeout_s
        self._idle: queue.LifoQueue[psycopg.Connection[Any]] = queue.LifoQueue()
        self._opened = 0
        self._lock = threading.Lock()
        self._closed = False

    def _open(self) -> psycopg.Connection[Any]:
        return connect(self.settings, autocommit=True, connect_timeout=5)

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection for the duration of the block (opened on demand)."""
        conn = self._acquire()
        try:
            yield conn
        except BaseException:
            self._release(conn, broken=True)
            raise
        self._release(conn, broken=False)

    def _acquire(self) -> psycopg.Connection[Any]:
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            with self._lock:
                grow = self._opened < self.size
                if grow:
                    self._opened += 1
            if grow:
                try:
                    return self._open()
                except BaseException:
                    with self._lock:
                        self._opened -= 1
                    raise
            try:
                conn = self._idle.get(timeout=self.timeout_s)
            except queue.Empty:
                raise ServiceUnavailableError(
                    f"all {self.size} PostgreSQL connections stayed busy for {self.timeout_s} s",
                    hint="the server is overloaded: retry later",
                ) from None
        if conn.closed or conn.broken:
            with self._lock:
                self._opened -= 1
            return self._acquire()
        return conn

    def _release(self, conn: psycopg.Connection[Any], broken: bool) -> None:
        unusable = (
            conn.closed
            or conn.broken
            or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE
        )
        if self._closed or unusable or (broken and unusable):
            conn.close()
            with self._lock:
                self._opened -= 1
            return
        self._idle.put(conn)

    def close(self) -> None:
        self._closed = True
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                break
