"""``lakesmith schedule`` (run the ``[schedule]`` jobs on their cron expressions) and
``lakesmith jobs`` (each job's last run; ``jobs run NAME`` runs one now;
``jobs history`` lists the runs). See docs/scheduling.md."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from lakesmith.cli.common import console, settings

if TYPE_CHECKING:
    from rich.table import Table

    from lakesmith.config import Settings
    from lakesmith.stores.job_runs import JobRun

jobs_app = typer.Typer(
    help="Scheduled jobs: last run, status, duration and rows per job; run one now.",
    no_args_is_help=False,
    invoke_without_command=True,
)

_STYLE = {
    "ok": "green", "failed": "red", "timeout": "red", "skipped": "yellow", "abandoned": "red",
}  # fmt: skip


def schedule(
    list_only: bool = typer.Option(
        False, "--list", help="Print the jobs and their next run times, then exit."
    ),
) -> None:
    """Run the jobs declared in \\[schedule] on their cron expressions, in one process.

    No job overlaps itself (a trigger while it runs is skipped, logged and recorded); a
    failed run is retried with backoff; every run is recorded (see `lakesmith jobs`).
    Ctrl-C stops the triggers and waits for the running jobs."""
    from lakesmith.core.errors import ConfigError

    s = settings()
    jobs = s.schedule.jobs
    if not jobs:
        raise ConfigError(
            "no scheduled jobs: [schedule] declares none",
            hint="add [[schedule.jobs]] entries (name, cron, kind, dataset) to lakesmith.toml",
        )
    if list_only:
        _print_plan(s)
        return
    from lakesmith.schedule.runner import JobRunner
    from lakesmith.schedule.scheduler import serve
    from lakesmith.stores.job_runs import JobRuns

    history = JobRuns(s)
    try:
        serve(s, JobRunner(s, history), on_start=lambda runs: _print_next(runs))
    finally:
        history.close()


def _print_next(runs: dict[str, str]) -> None:
    for name, when in runs.items():
        console.print(f"{name}: next run {when}", highlight=False)
    console.print("scheduler running; Ctrl-C stops it", highlight=False)


def _print_plan(s: Settings) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from rich.table import Table

    from lakesmith.schedule.scheduler import trigger

    now = datetime.now(ZoneInfo(s.schedule.timezone))
    table = Table(title=f"scheduled jobs ({s.schedule.timezone})")
    for col in ("job", "kind", "dataset", "cron", "next run"):
        table.add_column(col)
    for job in s.schedule.jobs:
        nxt = trigger(job, s.schedule.timezone).get_next_fire_time(None, now)
        when = nxt.isoformat(timespec="seconds") if job.enabled and nxt else "disabled"
        table.add_row(job.name, job.kind, job.dataset, job.cron, when)
    console.print(table)


def _fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.1f}m"


def jobs_table(s: Settings, last: dict[str, JobRun]) -> Table:
    """One row per declared job (and per job that ran but is no longer declared)."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title="scheduled jobs: last run")
    for col in ("job", "kind", "last run UTC", "status", "duration", "rows"):
        table.add_column(
            col, no_wrap=True, justify="right" if col in ("rows", "duration") else "left"
        )
    table.add_column("error")
    declared = {j.name: j for j in s.schedule.jobs}
    for name in [*declared, *sorted(set(last) - set(declared))]:
        job, run = declared.get(name), last.get(name)
        kind = job.kind if job else (run.kind if run else "")
        if job is None:
            name += " (no longer declared)"
        if run is None:
            table.add_row(name, kind, "never", "-", "-", "-", "")
            continue
        status = run.shown_status
        table.add_row(
            name,
            kind,
            f"{run.started:%m-%d %H:%M:%S}",
            Text(
                status + (f" x{run.attempts}" if run.attempts > 1 else ""), _STYLE.get(status, "")
            ),
            _fmt_duration(run.duration_s),
            f"{run.rows:,}" if run.rows is not None else "-",
            Text(run.error or ""),
        )
    return table


@jobs_app.callback()
def jobs(ctx: typer.Context) -> None:
    """Each scheduled job's last run: when, status, duration, rows, error."""
    if ctx.invoked_subcommand is not None:
        return
    from lakesmith.stores.job_runs import JobRuns

    s = settings()
    history = JobRuns(s)
    try:
        console.print(jobs_table(s, history.last_runs()))
    finally:
        history.close()


@jobs_app.command("run")
def run_now(name: str = typer.Argument(..., help="The job's name in \\[schedule].")) -> None:
    """Run one job now (skipped when a run of it is already going, anywhere)."""
    from lakesmith.schedule.runner import JobRunner
    from lakesmith.stores.job_runs import JobRuns

    s = settings()
    job = s.schedule.job(name)
    history = JobRuns(s)
    try:
        outcome = JobRunner(s, history).run(job, trigger="manual")
    finally:
        history.close()
    rows = f", {outcome.rows:,} rows" if outcome.rows is not None else ""
    tail = f": {outcome.error}" if outcome.error else ""
    console.print(
        f"{name}: {outcome.status} in {outcome.seconds:.1f}s{rows} "
        f"({outcome.attempts} attempt{'s' if outcome.attempts != 1 else ''}){tail}",
        highlight=False,
        soft_wrap=True,
    )
    if outcome.status in ("failed", "timeout"):
        raise typer.Exit(1)


@jobs_app.command("history")
def history_cmd(
    name: str | None = typer.Argument(None, help="Only this job's runs."),
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="How many runs."),
) -> None:
    """The latest runs (all jobs, or one), newest first."""
    from rich.table import Table
    from rich.text import Text

    from lakesmith.stores.job_runs import JobRuns

    s = settings()
    store = JobRuns(s)
    try:
        runs = store.history(name, limit)
    finally:
        store.close()
    table = Table(title="job runs")
    for col in ("run id", "trigger", "started (UTC)", "status", "attempts", "duration", "rows"):
        table.add_column(col, no_wrap=True)
    table.add_column("error")
    for r in runs:
        status = r.shown_status
        table.add_row(
            r.run_id,
            r.trigger,
            f"{r.started:%Y-%m-%d %H:%M:%S}",
            Text(status, _STYLE.get(status, "")),
            str(r.attempts),
            _fmt_duration(r.duration_s),
            f"{r.rows:,}" if r.rows is not None else "-",
            Text(r.error or ""),
        )
    console.print(table)
