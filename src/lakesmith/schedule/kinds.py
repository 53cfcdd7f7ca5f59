"""What each job kind does. A kind is a function ``(settings, job) -> rows`` registered in
``KINDS``; it raises to fail the run (the runner retries it).

- ``extract``: run the dataset's source to idle through the ordinary worker (any source
  kind: sql, http, s3, kafka…; exactly-once as for ``lakesmith run --until-idle``).
  Rows: records read.
- ``compact``: ``lakesmith compact`` (small files rewritten, old snapshots expired).
  ``args``: ``min_files``, ``target_mb``, ``expire_older_than``, ``retain_last``,
  ``tables``. Rows: rows in the compacted tables.
- ``expire-snapshots``: only the snapshot expiry of ``compact`` (no partition is
  rewritten). ``args``: ``expire_older_than``, ``retain_last``, ``tables``. Rows:
  snapshots expired.
- ``gold``: ``lakesmith reprocess DATASET --from bronze``: every sink downstream of bronze
  (silver, quarantine, the gold model's tables) rebuilt from bronze. Rows: records.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lakesmith.core.errors import ConfigError

if TYPE_CHECKING:
    from lakesmith.config import Settings
    from lakesmith.config.schedule import JobSpec

MB = 1024 * 1024
Kind = Callable[["Settings", "JobSpec"], int]


def _args(job: JobSpec, allowed: set[str]) -> dict[str, Any]:
    unknown = sorted(set(job.args) - allowed)
    if unknown:
        raise ConfigError(
            f"job {job.name}: unknown args {', '.join(unknown)} for kind {job.kind}",
            hint=f"use: {', '.join(sorted(allowed)) or 'none'}",
        )
    return dict(job.args)


def extract(settings: Settings, job: JobSpec) -> int:
    from lakesmith.contracts import load_contract
    from lakesmith.pipeline.worker import Worker

    _args(job, set())
    worker = Worker(settings, load_contract(job.dataset), group_id=f"lakesmith-{job.dataset}")
    try:
        return worker.run(until_idle=True).records
    finally:
        worker.close()


def _compact(settings: Settings, job: JobSpec, *, expire_only: bool) -> int:
    from lakesmith.contracts import load_contract
    from lakesmith.contracts.model import parse_duration
    from lakesmith.maintenance.compact import compact
    from lakesmith.stores.lake import CompactOptions

    allowed = {"expire_older_than", "retain_last", "tables", "orphans_older_than"}
    if not expire_only:
        allowed |= {"min_files", "target_mb"}
    args = _args(job, allowed)
    opts = CompactOptions(
        # expiry only: no partition ever has this many files
        min_files=2**31 if expire_only else int(args.get("min_files", 4)),
        target_bytes=int(args.get("target_mb", 128)) * MB,
        expire_older_than=parse_duration(str(args.get("expire_older_than", "1h"))),
        retain_last=int(args.get("retain_last", 5)),
        orphans_older_than=parse_duration(str(args.get("orphans_older_than", "1d"))),
    )
    tables = args.get("tables")
    names = [tables] if isinstance(tables, str) else tables
    reports = compact(settings, load_contract(job.dataset), opts, names)
    if expire_only:
        return sum(r.snapshots_expired for r in reports)
    return sum(r.rows_after for r in reports)


def compact_job(settings: Settings, job: JobSpec) -> int:
    return _compact(settings, job, expire_only=False)


def expire_snapshots(settings: Settings, job: JobSpec) -> int:
    return _compact(settings, job, expire_only=True)


def gold(settings: Settings, job: JobSpec) -> int:
    from lakesmith.contracts import load_contract
    from lakesmith.maintenance.reprocess import reprocess_from_bronze

    _args(job, set())
    _, stats = reprocess_from_bronze(settings, load_contract(job.dataset))
    return stats.records


KINDS: dict[str, Kind] = {
    "extract": extract,
    "compact": compact_job,
    "expire-snapshots": expire_snapshots,
    "gold": gold,
}
