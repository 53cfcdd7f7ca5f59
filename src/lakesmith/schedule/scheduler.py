"""``lakesmith schedule``: APScheduler 3's ``BlockingScheduler`` running the jobs of
``[schedule]``, one cron trigger each, in one process.

Each job is added with ``max_instances=1`` and ``coalesce=True``: a trigger that fires
while the job's previous run is still going is not started — APScheduler reports it
(``EVENT_JOB_MAX_INSTANCES``) and the runner records it ``skipped`` and logs it — and runs
missed while the process was busy or stopped collapse into one (within
``misfire_grace_s``). Runs happen in a thread pool (one thread per job), so two due jobs
run side by side. Ctrl-C (or SIGTERM) stops the triggers and waits for the running jobs
to end (their data is committed with its positions either way); a second Ctrl-C leaves at
once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lakesmith.config.schedule import JobSpec, split_cron
from lakesmith.core.logging import get_logger

if TYPE_CHECKING:
    from apscheduler.events import JobExecutionEvent  # type: ignore[import-untyped]
    from apscheduler.schedulers.base import BaseScheduler  # type: ignore[import-untyped]

    from lakesmith.config import Settings
    from lakesmith.schedule.runner import JobRunner

log = get_logger(__name__)


def trigger(job: JobSpec, timezone: str) -> Any:
    from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]

    return CronTrigger(timezone=timezone, **split_cron(job.cron))


def build_scheduler(
    settings: Settings, runner: JobRunner, jobs: list[JobSpec], *, blocking: bool = True
) -> BaseScheduler:
    """The scheduler with a trigger per enabled job (``blocking=False``: a background one,
    for tests and embedding)."""
    from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
    from apscheduler.executors.pool import ThreadPoolExecutor  # type: ignore[import-untyped]
    from apscheduler.schedulers.background import BackgroundScheduler  # type: ignore[import-untyped]
    from apscheduler.schedulers.blocking import BlockingScheduler  # type: ignore[import-untyped]

    cfg = settings.schedule
    enabled = [j for j in jobs if j.enabled]
    cls = BlockingScheduler if blocking else BackgroundScheduler
    scheduler = cls(
        timezone=cfg.timezone,
        executors={"default": ThreadPoolExecutor(max(1, len(enabled)))},
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": cfg.misfire_grace_s,
        },
    )
    by_name = {j.name: j for j in enabled}
    for job in enabled:
        scheduler.add_job(
            runner.run,
            trigger(job, cfg.timezone),
            args=[job, "cron"],
            id=job.name,
            name=job.name,
        )

    def on_event(event: JobExecutionEvent) -> None:
        job = by_name.get(event.job_id)
        if job is None:
            return
        if event.code == EVENT_JOB_MAX_INSTANCES:
            runner.skip(job, "cron", "the previous run of this job is still running")
        else:
            log.warning("job_run_missed", job=job.name, due=str(event.scheduled_run_time))

    scheduler.add_listener(on_event, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
    return scheduler


def next_runs(scheduler: BaseScheduler) -> dict[str, str]:
    """Job name → its next run time (after ``start``), for the start-up listing."""
    return {
        j.id: (j.next_run_time.isoformat(timespec="seconds") if j.next_run_time else "paused")
        for j in scheduler.get_jobs()
    }


def serve(
    settings: Settings,
    runner: JobRunner,
    on_start: Callable[[dict[str, str]], None] | None = None,
) -> None:
    """Run the scheduler until Ctrl-C / SIGTERM; then wait for the running jobs."""
    import os
    import signal

    jobs = settings.schedule.jobs
    scheduler = build_scheduler(settings, runner, jobs, blocking=True)

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    if on_start is not None:
        from apscheduler.events import EVENT_SCHEDULER_STARTED

        scheduler.add_listener(lambda _e: on_start(next_runs(scheduler)), EVENT_SCHEDULER_STARTED)
    log.info("scheduler_started", jobs=[j.name for j in jobs if j.enabled])
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        log.info("scheduler_stopping", note="waiting for running jobs; Ctrl-C again to leave now")
        try:
            scheduler.shutdown(wait=True)
        except KeyboardInterrupt:
            from lakesmith.schedule.isolated import stop_all_children

            # the runs' child processes are stopped (SIGTERM, then SIGKILL after a short
            # grace): os._exit leaves no orphan job process behind
            stopped = stop_all_children(grace_s=3.0)
            log.warning("scheduler_abandoned_running_jobs", stopped_child_processes=stopped)
            os._exit(130)
    log.info("scheduler_stopped")
