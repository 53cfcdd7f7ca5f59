"""``[schedule]``: jobs that ``lakesmith schedule`` runs on cron expressions.

Owned by the scheduler work (``lakesmith.schedule``, docs/scheduling.md)::

    [schedule]
    timezone = "UTC"

    [[schedule.jobs]]
    name = "orders-extract"
    cron = "*/15 * * * *"          # minute hour day month weekday (6 fields: seconds first)
    kind = "extract"               # extract | compact | expire-snapshots | gold
    dataset = "shop.orders"

    [[schedule.jobs]]
    name = "nightly-compact"
    cron = "30 2 * * *"
    kind = "compact"
    dataset = "shop.orders"
    args = {min_files = 8, expire_older_than = "1d"}
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from lakesmith.config.fields import Section

JobKind = Literal["extract", "compact", "expire-snapshots", "gold"]
_CRON_FIELDS = (5, 6)


def split_cron(expr: str) -> dict[str, str]:
    """A crontab line (5 fields, or 6 with seconds first) as APScheduler ``CronTrigger``
    keyword arguments."""
    parts = expr.split()
    if len(parts) not in _CRON_FIELDS:
        raise ValueError(
            f"cron {expr!r} needs 5 fields (minute hour day month weekday) or 6 (seconds first)"
        )
    names = ["minute", "hour", "day", "month", "day_of_week"]
    if len(parts) == 6:
        names = ["second", *names]
    return dict(zip(names, parts, strict=True))


class JobSpec(Section):
    """One ``[[schedule.jobs]]`` entry."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    cron: str = Field(description="crontab: minute hour day month weekday (or seconds first)")
    kind: JobKind
    dataset: str = Field(description="the dataset the job works on (e.g. shop.orders)")
    args: dict[str, Any] = Field(
        default_factory=dict, description="kind-specific options (docs/scheduling.md)"
    )
    retries: int | None = Field(None, ge=0, le=20, description="default: [schedule].retries")
    timeout_s: float | None = Field(
        None, ge=0, description="stop a run longer than this (default: [schedule].timeout_s)"
    )
    enabled: bool = True

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]

        try:
            CronTrigger(**split_cron(v))
        except ValueError as exc:
            raise ValueError(f"cron {v!r}: {exc}") from None
        return v


class ScheduleSettings(Section):
    """Scheduled jobs (``LAKESMITH__SCHEDULE__…``)."""

    timezone: str = Field("UTC", description="the time zone cron expressions are read in")
    retries: int = Field(2, ge=0, le=20, description="retries of a failed run")
    backoff_s: float = Field(
        10.0, ge=0, description="first wait before a retry; doubles per attempt"
    )
    backoff_max_s: float = Field(300.0, ge=0, description="longest wait between attempts")
    misfire_grace_s: int = Field(
        60, ge=1, description="a run that could not start on time still runs this late"
    )
    timeout_s: float = Field(
        3600.0,
        ge=0,
        description="a run (retries included) longer than this is stopped and recorded "
        "timeout; 0: no limit",
    )
    jobs: list[JobSpec] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (an IANA name such as UTC)") from None
        return v

    @model_validator(mode="after")
    def _unique(self) -> ScheduleSettings:
        names = [j.name for j in self.jobs]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"job names must be unique: {', '.join(dup)}")
        return self

    def job(self, name: str) -> JobSpec:
        for j in self.jobs:
            if j.name == name:
                return j
        known = ", ".join(j.name for j in self.jobs) or "none"
        from lakesmith.core.errors import ConfigError

        raise ConfigError(
            f"no scheduled job named {name!r} (known: {known})",
            hint="declare it under [[schedule.jobs]] in lakesmith.toml",
        )
