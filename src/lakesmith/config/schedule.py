"""``[schedule]``: jobs that ``lakesmith schedule`` runs on cron expressions.

Owned by the scheduler work (``lakesmith.schedule``); fields are added as it grows."""

from __future__ import annotations

from lakesmith.config.fields import Section


class ScheduleSettings(Section):
    """Scheduled jobs (``LAKESMITH__SCHEDULE__…``)."""
