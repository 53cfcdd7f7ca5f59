"""Scheduled jobs against the real PostgreSQL (run history, advisory locks): two due jobs
run side by side, an overlapping trigger is skipped, logged and recorded, and the CLI
(`lakesmith jobs run NAME` on a real sql extraction, a failing job, `lakesmith jobs`)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from lakesmith.config import Settings
from lakesmith.config.schedule import JobSpec
from lakesmith.contracts.loader import DOMAINS_DIR
from lakesmith.schedule.runner import JobRunner
from lakesmith.schedule.scheduler import build_scheduler
from lakesmith.stores.job_runs import JobRuns
from lakesmith.stores.sql_source_db import create_database, drop_database, seed_orders
from lakesmith.testing import worker_env
from lakesmith.testing.jobs import scripted
from lakesmith.testing.pipeline import unique_contract

pytestmark = pytest.mark.integration


@pytest.fixture
def history(stack_settings: Settings) -> Iterator[JobRuns]:
    store = JobRuns(stack_settings)
    yield store
    store.close()


def test_two_due_jobs_run_and_an_overlap_is_skipped(
    stack_settings: Settings, history: JobRuns
) -> None:
    tag = uuid.uuid4().hex[:6]
    fast, slow = f"fast-{tag}", f"slow-{tag}"
    running: set[str] = set()
    both_at_once = threading.Event()

    def kind(settings: Settings, job: JobSpec) -> int:
        running.add(job.name)
        if {fast, slow} <= running:
            both_at_once.set()
        time.sleep(2.5 if job.name == slow else 0.2)
        running.discard(job.name)
        return 7

    jobs = [
        JobSpec(name=n, cron="* * * * * *", kind="extract", dataset="shop.orders")
        for n in (fast, slow)
    ]  # every second
    runner = JobRunner(stack_settings, history, {"extract": kind}, isolate=False)
    scheduler = build_scheduler(stack_settings, runner, jobs, blocking=False)
    with capture_logs() as logs:
        scheduler.start()
        time.sleep(4.5)
        scheduler.shutdown(wait=True)
    runs = history.history(limit=200)
    mine = [r for r in runs if r.job in (fast, slow)]
    by = {n: [r.status for r in mine if r.job == n] for n in (fast, slow)}
    assert by[fast].count("ok") >= 3 and "skipped" not in by[fast]
    assert by[slow].count("ok") >= 1 and by[slow].count("skipped") >= 1
    assert both_at_once.is_set()  # the two jobs ran side by side
    assert all(r.rows == 7 and r.duration_s is not None for r in mine if r.status == "ok")
    skipped = [e for e in logs if e["event"] == "job_skipped_overlap"]
    assert skipped and all(e["job"] == slow for e in skipped)
    assert len(skipped) == by[slow].count("skipped")
    last = history.last_runs()
    assert last[slow].status in ("ok", "skipped") and last[fast].status == "ok"


def test_manual_run_skipped_while_another_process_runs_the_job(
    stack_settings: Settings, history: JobRuns
) -> None:
    name = f"locked-{uuid.uuid4().hex[:6]}"
    other = JobRuns(stack_settings)  # another process's session
    try:
        assert other.try_lock(name)
        runner = JobRunner(stack_settings, history, {"extract": lambda s, j: 1}, isolate=False)
        out = runner.run(JobSpec(name=name, cron="* * * * *", kind="extract", dataset="x"))
        assert out.status == "skipped" and out.error == "another process is running this job"
        other.unlock(name)
        out = runner.run(JobSpec(name=name, cron="* * * * *", kind="extract", dataset="x"))
        assert out.status == "ok" and out.rows == 1
    finally:
        other.close()
    assert history.last_runs()[name].status == "ok"


def test_a_run_past_its_timeout_is_stopped_and_in_the_history(
    stack_settings: Settings, history: JobRuns
) -> None:
    name = f"sleepy-{uuid.uuid4().hex[:6]}"
    runner = JobRunner(stack_settings, history, {"extract": scripted})  # isolated: a child
    spec = {"name": name, "cron": "* * * * *", "kind": "extract", "dataset": "x"}
    job = JobSpec.model_validate({**spec, "timeout_s": 1, "args": {"sleep_s": 120}})
    t0 = time.monotonic()
    out = runner.run(job)
    assert out.status == "timeout" and time.monotonic() - t0 < 30
    last = history.last_runs()[name]
    assert last.shown_status == "timeout" and last.duration_s is not None
    assert "timeout_s = 1 s" in (last.error or "")


def test_jobs_cli_runs_a_real_extraction_and_lists_every_job(
    stack_settings: Settings, tmp_path: Path
) -> None:
    db = f"sqlsrc_{uuid.uuid4().hex[:10]}"
    url = create_database(stack_settings, db)
    seed_orders(url, 300)
    source = {
        "kind": "sql", "postgres_database": db, "table": "public.orders", "key": ["id"],
        "watermark": "updated_at", "lag": "1m", "soft_delete": "deleted_at",
    }  # fmt: skip
    _, path = unique_contract(tmp_path, str(DOMAINS_DIR / "shop" / "orders.yaml"), source=source)
    _, empty = unique_contract(tmp_path, str(path))  # never run: no tables to compact
    tag = uuid.uuid4().hex[:6]
    config = tmp_path / "lakesmith.toml"
    config.write_text(
        f"""
[schedule]
retries = 1
backoff_s = 0.1

[[schedule.jobs]]
name = "extract-{tag}"
cron = "*/15 * * * *"
kind = "extract"
dataset = "{path}"

[[schedule.jobs]]
name = "compact-{tag}"
cron = "0 3 * * *"
kind = "compact"
dataset = "{empty}"

[[schedule.jobs]]
name = "never-{tag}"
cron = "0 4 * * 0"
kind = "expire-snapshots"
dataset = "{path}"
"""
    )
    env = worker_env(stack_settings, LAKESMITH_CONFIG=str(config), COLUMNS="200")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "lakesmith", *args], env=env, capture_output=True, text=True
        )

    try:
        ok = cli("jobs", "run", f"extract-{tag}")
        assert ok.returncode == 0, ok.stderr[-2000:]
        assert f"extract-{tag}: ok in" in ok.stdout and "300 rows (1 attempt)" in ok.stdout
        assert '"event": "job_finished"' in ok.stderr and '"run_id": "extract-' in ok.stderr
        bad = cli("jobs", "run", f"compact-{tag}")
        assert bad.returncode == 1
        assert f"compact-{tag}: failed" in bad.stdout and "(2 attempts)" in bad.stdout
        assert "CompactionError: " in bad.stdout and "no lake table" in bad.stdout
        listing = cli("jobs")
        assert listing.returncode == 0, listing.stderr[-2000:]
        lines = {line.split()[1]: line for line in listing.stdout.splitlines() if tag in line}
        assert " ok " in lines[f"extract-{tag}"] and "300" in lines[f"extract-{tag}"]
        assert "failed x2" in lines[f"compact-{tag}"]
        assert "never" in lines[f"never-{tag}"]
    finally:
        drop_database(stack_settings, db)
