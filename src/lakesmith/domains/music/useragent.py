"""The user-agent dimension's user-defined function: browser, OS and device of a user
agent string, parsed with ua-parser (the uap-core regexes).

Vectorised the way a UDF over a large column should be: the parser runs once per
*distinct* user agent of a batch (a few dozen per 100k Eventsim events), its answers are
cached for the life of the process (``functools.lru_cache``), and the results are joined
back to every row with Polars."""

from __future__ import annotations

from functools import lru_cache

import polars as pl

UA_FIELDS = ("browser", "browser_version", "os", "os_version", "device", "device_type")
_MOBILE_OS = {"iOS", "Android", "Windows Phone", "BlackBerry OS", "Symbian OS"}
_TABLETS = ("iPad", "Kindle", "Nexus 7", "Nexus 9", "Nexus 10", "Galaxy Tab")


def _version(*parts: str | None) -> str | None:
    kept = [p for p in parts if p]
    return ".".join(kept) if kept else None


@lru_cache(maxsize=65536)
def parse_user_agent(text: str) -> tuple[str | None, ...]:
    """(browser, browser_version, os, os_version, device, device_type) of one user agent;
    Eventsim quotes its user agents, the quotes are dropped first."""
    from ua_parser import parse

    result = parse(text.strip().strip('"'))
    ua, os, device = result.user_agent, result.os, result.device
    os_family = os.family if os else None
    device_family = device.family if device else None
    if device_family and any(t in device_family for t in _TABLETS):
        kind = "tablet"
    elif os_family in _MOBILE_OS:
        kind = "mobile"
    elif ua is None and os is None:
        kind = None
    else:
        kind = "desktop"
    return (
        ua.family if ua else None,
        _version(ua.major, ua.minor) if ua else None,
        os_family,
        _version(os.major, os.minor, os.patch) if os else None,
        device_family,
        kind,
    )


def parse_user_agents(agents: pl.Series) -> pl.DataFrame:
    """One row per distinct non-null user agent of ``agents``: ``user_agent`` and
    ``UA_FIELDS`` (the parser runs once per distinct value, cached across batches)."""
    distinct = agents.drop_nulls().unique().sort()
    parsed = [parse_user_agent(ua) for ua in distinct.to_list()]
    columns = {f: [p[i] for p in parsed] for i, f in enumerate(UA_FIELDS)}
    return pl.DataFrame(
        {"user_agent": distinct, **columns},
        schema={"user_agent": pl.String, **dict.fromkeys(UA_FIELDS, pl.String)},
    )
