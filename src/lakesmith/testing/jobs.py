"""Job kinds for the scheduler's tests: importable functions, so they also run in the
child process of an isolated run (``schedule.isolated`` sends kinds by reference).

``args``: ``sleep_s`` (sleep first), ``fail`` (raise ``RuntimeError`` with that text),
``config_error`` (raise ``ConfigError``), ``rows`` (the rows returned, default 1).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from lakesmith.core.errors import ConfigError

if TYPE_CHECKING:
    from lakesmith.config import Settings
    from lakesmith.config.schedule import JobSpec


def scripted(settings: Settings, job: JobSpec) -> int:
    """Sleeps, fails or returns rows as ``job.args`` says."""
    time.sleep(float(job.args.get("sleep_s", 0)))
    if "config_error" in job.args:
        raise ConfigError(str(job.args["config_error"]))
    if "fail" in job.args:
        raise RuntimeError(str(job.args["fail"]))
    return int(job.args.get("rows", 1))
