"""The run history of scheduled jobs (``lakesmith.job_runs``): one row per run of a job,
written when it starts (``running``) and when it ends (``ok``, ``failed``), or once for a
run that was not started because the previous one still ran (``skipped``).

``pid`` and ``host`` say which process ran it: a ``running`` row whose process is gone
(killed with the scheduler) reads as ``abandoned``.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row

from lakesmith.config import Settings
from lakesmith.stores.postgres import connect

DDL = """
CREATE SCHEMA IF NOT EXISTS lakesmith;
CREATE TABLE IF NOT EXISTS lakesmith.job_runs (
    run_id      text PRIMARY KEY,
    job         text NOT NULL,
    kind        text NOT NULL,
    trigger     text NOT NULL,
    started     timestamptz NOT NULL DEFAULT now(),
    finished    timestamptz,
    status      text NOT NULL,
    duration_s  double precision,
    rows        bigint,
    attempts    integer NOT NULL DEFAULT 0,
    error       text,
    pid         integer NOT NULL,
    host        text NOT NULL
);
CREATE INDEX IF NOT EXISTS job_runs_job_started ON lakesmith.job_runs (job, started DESC);
"""


@dataclass(frozen=True)
class JobRun:
    run_id: str
    job: str
    kind: str
    trigger: str
    started: datetime
    finished: datetime | None
    status: str
    duration_s: float | None
    rows: int | None
    attempts: int
    error: str | None
    pid: int
    host: str

    @property
    def shown_status(self) -> str:
        """``abandoned`` for a ``running`` row of a process on this host that is gone."""
        if self.status != "running" or self.host != socket.gethostname():
            return self.status
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return "abandoned"
        except PermissionError:
            pass
        return self.status


class JobRuns:
    """The ``lakesmith.job_runs`` table, on its own autocommit connection (thread-safe:
    each call takes the connection's lock)."""

    def __init__(self, settings: Settings) -> None:
        self.conn: psycopg.Connection[Any] = connect(settings, autocommit=True)
        self.conn.execute(DDL)
        self._host = socket.gethostname()

    def start(self, run_id: str, job: str, kind: str, trigger: str) -> None:
        self.conn.execute(
            "INSERT INTO lakesmith.job_runs (run_id, job, kind, trigger, status, pid, host) "
            "VALUES (%s, %s, %s, %s, 'running', %s, %s)",
            [run_id, job, kind, trigger, os.getpid(), self._host],
        )

    def attempt(self, run_id: str, attempt: int, error: str | None) -> None:
        self.conn.execute(
            "UPDATE lakesmith.job_runs SET attempts = %s, error = %s WHERE run_id = %s",
            [attempt, error, run_id],
        )

    def finish(
        self, run_id: str, status: str, rows: int | None, attempts: int, error: str | None
    ) -> None:
        self.conn.execute(
            "UPDATE lakesmith.job_runs SET finished = now(), status = %s, rows = %s, "
            "attempts = %s, error = %s, "
            "duration_s = extract(epoch FROM now() - started) WHERE run_id = %s",
            [status, rows, attempts, error, run_id],
        )

    def skipped(self, run_id: str, job: str, kind: str, trigger: str, reason: str) -> None:
        self.conn.execute(
            "INSERT INTO lakesmith.job_runs (run_id, job, kind, trigger, finished, status, "
            "duration_s, attempts, error, pid, host) "
            "VALUES (%s, %s, %s, %s, now(), 'skipped', 0, 0, %s, %s, %s)",
            [run_id, job, kind, trigger, reason, os.getpid(), self._host],
        )

    def try_lock(self, job: str) -> bool:
        """A session advisory lock per job name: one run at a time over all processes
        (``lakesmith jobs run`` beside a running scheduler)."""
        row = self.conn.execute(
            "SELECT pg_try_advisory_lock(hashtext('lakesmith.job:' || %s))", [job]
        ).fetchone()
        return bool(row and row[0])

    def unlock(self, job: str) -> None:
        self.conn.execute("SELECT pg_advisory_unlock(hashtext('lakesmith.job:' || %s))", [job])

    def last_runs(self) -> dict[str, JobRun]:
        """The latest run of every job that ran (skipped runs included)."""
        with self.conn.cursor(row_factory=class_row(JobRun)) as cur:
            rows = cur.execute(
                "SELECT DISTINCT ON (job) run_id, job, kind, trigger, started, finished, "
                "status, duration_s, rows, attempts, error, pid, host "
                "FROM lakesmith.job_runs ORDER BY job, started DESC, run_id DESC"
            ).fetchall()
        return {r.job: r for r in rows}

    def history(self, job: str | None = None, limit: int = 50) -> list[JobRun]:
        with self.conn.cursor(row_factory=class_row(JobRun)) as cur:
            return cur.execute(
                "SELECT run_id, job, kind, trigger, started, finished, status, duration_s, "
                "rows, attempts, error, pid, host FROM lakesmith.job_runs "
                "WHERE %(job)s::text IS NULL OR job = %(job)s "
                "ORDER BY started DESC, run_id DESC LIMIT %(limit)s",
                {"job": job, "limit": limit},
            ).fetchall()

    def close(self) -> None:
        self.conn.close()
