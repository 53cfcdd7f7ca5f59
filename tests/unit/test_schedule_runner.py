"""Scheduled jobs without services: the [schedule] settings, and the runner's rules —
retries with backoff, failures recorded, configuration errors not retried, no overlap,
every log line of a run carrying its run id."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from lakesmith.config import Settings, load_settings
from lakesmith.config.schedule import JobSpec, ScheduleSettings, split_cron
from lakesmith.core.errors import ConfigError
from lakesmith.schedule.kinds import KINDS
from lakesmith.schedule.runner import JobRunner
from lakesmith.testing.jobs import scripted


class FakeHistory:
    """``JobRuns`` in memory."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.locked: set[str] = set()
        self.foreign: set[str] = set()  # jobs "another process" runs

    def start(self, run_id: str, job: str, kind: str, trigger: str) -> None:
        self.rows[run_id] = {"job": job, "status": "running", "trigger": trigger}

    def attempt(self, run_id: str, attempt: int, error: str | None) -> None:
        self.rows[run_id] |= {"attempts": attempt, "error": error}

    def finish(
        self, run_id: str, status: str, rows: int | None, attempts: int, error: str | None
    ) -> None:
        self.rows[run_id] |= {"status": status, "rows": rows, "attempts": attempts, "error": error}

    def skipped(self, run_id: str, job: str, kind: str, trigger: str, reason: str) -> None:
        self.rows[run_id] = {"job": job, "status": "skipped", "error": reason}

    def try_lock(self, job: str) -> bool:
        return job not in self.foreign

    def unlock(self, job: str) -> None:
        pass


def job_children() -> list[Any]:
    """The job processes alive (other tests in this process may keep a PDF parsing pool
    of spawned processes: those are not the scheduler's)."""
    return [c for c in multiprocessing.active_children() if c.name.startswith("lakesmith-job-")]


def job(name: str = "j", kind: str = "extract", **kw: Any) -> JobSpec:
    fields: dict[str, Any] = {"cron": "* * * * *", "dataset": "shop.orders", **kw}
    return JobSpec.model_validate({"name": name, "kind": kind, **fields})


def runner(
    kind: Any, isolate: bool = False, **schedule: Any
) -> tuple[JobRunner, FakeHistory, list[float]]:
    settings: Settings = load_settings(schedule={"backoff_s": 2, "backoff_max_s": 5, **schedule})
    history = FakeHistory()
    waits: list[float] = []
    kinds = dict.fromkeys(KINDS, kind)
    r = JobRunner(settings, history, kinds, sleep=waits.append, isolate=isolate)  # type: ignore[arg-type]
    return r, history, waits


def test_cron_and_settings() -> None:
    assert split_cron("*/5 * * * *") == {
        "minute": "*/5", "hour": "*", "day": "*", "month": "*", "day_of_week": "*",
    }  # fmt: skip
    assert split_cron("*/2 * * * * *")["second"] == "*/2"
    with pytest.raises(ValidationError, match="needs 5 fields"):
        job(cron="* * *")
    with pytest.raises(ValidationError, match="cron '61 \\* \\* \\* \\*'"):
        job(cron="61 * * * *")
    with pytest.raises(ValidationError, match="job names must be unique: a"):
        ScheduleSettings(jobs=[job("a"), job("a")])
    with pytest.raises(ValidationError, match="unknown time zone"):
        ScheduleSettings(timezone="Mars/Olympus")
    with pytest.raises(ConfigError, match="no scheduled job named 'b' \\(known: a\\)"):
        ScheduleSettings(jobs=[job("a")]).job("b")
    assert set(KINDS) == {"extract", "compact", "expire-snapshots", "gold"}


def test_a_failing_run_is_retried_with_backoff_then_recorded_ok() -> None:
    calls: list[int] = []

    def flaky(settings: Settings, j: JobSpec) -> int:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError(f"database away (try {len(calls)})\nsecond line")
        return 42

    r, history, waits = runner(flaky)
    with capture_logs(processors=[merge_contextvars]) as logs:
        out = r.run(job())
    assert (out.status, out.rows, out.attempts) == ("ok", 42, 3)
    assert waits == [2, 4]  # doubling from backoff_s
    (row,) = history.rows.values()
    assert row["status"] == "ok" and row["attempts"] == 3
    retries = [e for e in logs if e["event"] == "job_retry"]
    assert [e["error"] for e in retries] == [
        "ConnectionError: database away (try 1)",
        "ConnectionError: database away (try 2)",
    ]
    assert all(e.get("run_id") == out.run_id for e in logs if e["event"].startswith("job_"))


def test_a_run_failing_every_attempt_is_recorded_failed() -> None:
    def broken(settings: Settings, j: JobSpec) -> int:
        raise RuntimeError("boom")

    r, history, waits = runner(broken)
    out = r.run(job(retries=1))
    assert (out.status, out.attempts, out.error) == ("failed", 2, "RuntimeError: boom")
    assert waits == [2]
    assert next(iter(history.rows.values()))["status"] == "failed"


def test_configuration_errors_are_not_retried() -> None:
    r, _, waits = runner(KINDS["compact"])
    out = r.run(job(kind="compact", args={"bogus": 1}))
    assert out.status == "failed" and out.attempts == 1 and waits == []
    assert "unknown args bogus for kind compact" in (out.error or "")


def test_no_overlapping_runs_of_a_job() -> None:
    started = threading.Event()
    release = threading.Event()

    def slow(settings: Settings, j: JobSpec) -> int:
        if j.name == "j":  # the job that is still running
            started.set()
            release.wait(10)
        return 1

    r, history, _ = runner(slow)
    t = threading.Thread(target=r.run, args=(job(),))
    t.start()
    assert started.wait(10)
    with capture_logs() as logs:
        second = r.run(job(), trigger="manual")
    other = r.run(job("other"))  # another job is not blocked
    release.set()
    t.join(10)
    assert second.status == "skipped" and "still running" in (second.error or "")
    assert other.status == "ok"
    assert [e["event"] for e in logs] == ["job_skipped_overlap"]
    statuses = sorted(row["status"] for row in history.rows.values())
    assert statuses == ["ok", "ok", "skipped"]
    history.foreign.add("j")  # another process holds the job's advisory lock
    assert r.run(job()).error == "another process is running this job"


def test_run_time_is_measured() -> None:
    def nap(settings: Settings, j: JobSpec) -> int:
        time.sleep(0.05)
        return 0

    r, _, _ = runner(nap)
    assert r.run(job()).seconds >= 0.05


def test_cli_names_unknown_jobs_and_lists_the_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from lakesmith.cli import app

    config = tmp_path / "lakesmith.toml"
    config.write_text(
        '[[schedule.jobs]]\nname = "nightly"\ncron = "30 2 * * *"\nkind = "compact"\n'
        'dataset = "shop.orders"\n'
    )
    monkeypatch.setenv("LAKESMITH_CONFIG", str(config))
    monkeypatch.setenv("LAKESMITH__STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("COLUMNS", "200")
    cli = CliRunner()
    plan = cli.invoke(app, ["schedule", "--list"])
    assert plan.exit_code == 0, plan.output
    assert "nightly" in plan.output and "02:30:00" in plan.output
    unknown = cli.invoke(app, ["jobs", "run", "nope"])
    assert unknown.exit_code != 0
    assert "no scheduled job named 'nope' (known: nightly)" in str(unknown.exception)
    config.write_text("[schedule]\n")
    empty = cli.invoke(app, ["schedule"])
    assert "no scheduled jobs" in str(empty.exception)


def test_a_run_past_its_timeout_is_stopped_and_recorded_timeout() -> None:
    """Each attempt runs in a child process; one sleeping past the job's timeout_s is
    killed (no process left behind), recorded ``timeout`` and not retried."""
    r, history, waits = runner(scripted, isolate=True)
    t0 = time.monotonic()
    with capture_logs(processors=[merge_contextvars]) as logs:
        out = r.run(job(timeout_s=1.5, retries=2, args={"sleep_s": 60}))
    took = time.monotonic() - t0
    assert out.status == "timeout" and out.attempts == 1 and waits == []
    assert "timeout_s = 1.5 s" in (out.error or "")
    assert took < 20  # stopped, not waited for (60 s)
    assert job_children() == []
    (row,) = history.rows.values()
    assert row["status"] == "timeout" and "timeout_s" in row["error"]
    assert [e["run_id"] for e in logs if e["event"] == "job_timeout"] == [out.run_id]


def test_isolated_runs_return_rows_and_report_child_errors() -> None:
    r, _, waits = runner(scripted, isolate=True)
    out = r.run(job(retries=1, args={"fail": "disk full"}))
    assert (out.status, out.attempts, out.error) == ("failed", 2, "RuntimeError: disk full")
    assert waits == [2]
    out = r.run(job("c", retries=3, args={"config_error": "bad args"}))
    assert (out.status, out.attempts) == ("failed", 1)  # a ConfigError is not retried
    assert out.error == "ConfigError: bad args"
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        job(timeout_s=-1)


def test_leaving_without_waiting_stops_every_running_child(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The scheduler's second Ctrl-C leaves at once: the runs' child processes are
    stopped first (``stop_all_children``), so none outlives the scheduler, and the runs
    are not retried in new children."""
    from lakesmith.schedule import isolated

    monkeypatch.setattr(isolated, "_closed", False)  # restored after the test
    for leftover in job_children():  # an earlier test's child may still be exiting (load)
        leftover.join(30)

    r, _, _ = runner(scripted, isolate=True)
    threads = [
        threading.Thread(target=r.run, args=(job(name, args={"sleep_s": 60}),), daemon=True)
        for name in ("a", "b")
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(job_children()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(job_children()) == 2
    t0 = time.monotonic()
    assert isolated.stop_all_children(grace_s=5) == 2
    assert time.monotonic() - t0 < 10  # SIGTERM is enough: the jobs did not run their 60 s
    # The children are dead now; the run threads join them too, and while one of them is
    # reaping a child, multiprocessing's bookkeeping may still list it for a moment (its
    # waitpid in another thread fails with ECHILD, read as "not exited"; seen once in CI).
    settle = time.monotonic() + 5
    while job_children() and time.monotonic() < settle:
        time.sleep(0.05)
    assert job_children() == []
    for t in threads:
        t.join(30)
        assert not t.is_alive()  # each run saw its child die and finished
    assert job_children() == []  # and started no other
    assert isolated.stop_all_children() == 0
