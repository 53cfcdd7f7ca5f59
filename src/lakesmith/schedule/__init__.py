"""Scheduled jobs: ``lakesmith schedule`` (one process running the jobs of ``[schedule]``
on cron expressions) and ``lakesmith jobs`` (their run history). See docs/scheduling.md.

- ``kinds``: what each job kind does (extract, compact, expire-snapshots, gold);
- ``runner``: one run of a job — no overlap, retries with backoff, the run recorded;
- ``scheduler``: APScheduler's ``BlockingScheduler`` with a cron trigger per job.
"""
