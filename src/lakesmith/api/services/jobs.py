"""Background jobs (``POST /v1/seed``): recorded in ``lakesmith.api_jobs``, run on a
thread of the server, polled with ``GET /v1/jobs/{id}``."""

from __future__ import annotations

import importlib
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, is_dataclass
from typing import Any

from lakesmith.api.auth import Principal
from lakesmith.api.errors import NotFoundError
from lakesmith.api.schemas import Job, SeedIn
from lakesmith.config import Settings
from lakesmith.core.logging import get_logger
from lakesmith.stores import jobs as store
from lakesmith.stores.pg_pool import ConnectionPool

log = get_logger(__name__)
SEED_MODULE = "lakesmith.domains.entities.seed"


def _plain(value: Any) -> Any:
    """A result as JSON-able data (dataclasses, paths, dates → dicts and strings)."""
    if is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


class JobService:
    def __init__(self, settings: Settings, pool: ConnectionPool) -> None:
        self.settings = settings
        self.pool = pool
        self.instance = uuid.uuid4().hex
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="api-job")
        self._lock = threading.Lock()

    def start(self) -> int:
        """Create the table; jobs of earlier server processes that never ended are marked
        ``interrupted``. Returns how many."""
        with self.pool.connection() as conn:
            store.ensure_jobs_table(conn)
            return store.mark_interrupted(conn, self.instance)

    def get(self, job_id: str) -> Job:
        with self.pool.connection() as conn:
            row = store.get_job(conn, job_id) if len(job_id) <= 64 else None
        if row is None:
            raise NotFoundError(f"no job {job_id!r}")
        return Job.model_validate(row)

    def _update(self, job_id: str, **kw: Any) -> None:
        with self.pool.connection() as conn:
            store.update_job(conn, job_id, **kw)

    def seed(self, who: Principal, params: SeedIn) -> Job:
        job_id = uuid.uuid4().hex
        with self.pool.connection() as conn:
            store.create_job(
                conn, job_id, "seed", who.name, self.instance, params.model_dump(mode="json")
            )
        self._executor.submit(self._run_seed, job_id, params)
        return self.get(job_id)

    def _run_seed(self, job_id: str, params: SeedIn) -> None:
        self._update(job_id, status="running")

        def progress(stage: Any, fraction: Any = None, *_: Any) -> None:
            self._update(job_id, progress={"stage": _plain(stage), "fraction": _plain(fraction)})

        try:
            seed = importlib.import_module(SEED_MODULE).seed
            report = seed(
                self.settings, seed=params.seed, devices=params.devices, progress=progress
            )
        except Exception as exc:
            log.warning("api_job_failed", job=job_id, error=str(exc)[:500])
            self._update(job_id, status="failed", error=f"{type(exc).__name__}: {exc}"[:2000])
            return
        result = _plain(report)
        self._update(
            job_id,
            status="succeeded",
            result=result if isinstance(result, dict) else {"value": result},
        )

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
