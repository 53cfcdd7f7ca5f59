"""An Eventsim-like clickstream generator, vectorised with NumPy and Polars.

``users`` listeners over ``days`` days from ``start``: each user has a number of sessions
(Poisson around an activity drawn per user, evenings busier than nights), each session a
run of events numbered by ``itemInSession``: it opens on ``Home`` (or, for visitors not yet
logged in, ``Home`` then ``Login`` with ``userId: ""`` and null names), continues mostly
with ``NextSong`` (songs drawn with Zipf popularity over the catalogue, the next event
one song length later) mixed with page views (Thumbs Up, Add to Playlist, Roll Advert for
free users, Settings, Help, Error …), and sometimes ends on ``Logout``. A user's level
moves free → paid on ``Submit Upgrade`` and back on ``Submit Downgrade`` (every event
carries the level valid at that moment). Output has Eventsim's 18 keys, in its order,
with ``registration`` a float of epoch milliseconds and ``ts`` an integer.

The same arguments and seed give the same events (the catalogue depends only on whether
the shared sample data is present). No per-event Python: a million events take a few
seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from lakesmith.domains.music.catalogue import (
    FIRST_NAMES,
    LAST_NAMES,
    LOCATIONS,
    USER_AGENTS,
    Catalogue,
    build_catalogue,
)

COLUMNS = [
    "artist", "auth", "firstName", "gender", "itemInSession", "lastName", "length", "level",
    "location", "method", "page", "registration", "sessionId", "song", "status", "ts",
    "userAgent", "userId",
]  # fmt: skip

# page, weight among events after the first, method, status
_PAGES: list[tuple[str, float, str, int]] = [
    ("NextSong", 0.80, "PUT", 200),
    ("Home", 0.045, "GET", 200),
    ("Thumbs Up", 0.045, "PUT", 307),
    ("Add to Playlist", 0.023, "PUT", 200),
    ("Roll Advert", 0.02, "GET", 200),  # free users; paid users see Home instead
    ("Add Friend", 0.015, "PUT", 307),
    ("Thumbs Down", 0.01, "PUT", 307),
    ("Settings", 0.006, "GET", 200),
    ("Help", 0.005, "GET", 200),
    ("Upgrade", 0.012, "GET", 200),  # free users; paid users see Downgrade
    ("About", 0.003, "GET", 200),
    ("Save Settings", 0.0012, "PUT", 307),
    ("Error", 0.0008, "GET", 404),
    ("Submit Upgrade", 0.004, "PUT", 307),  # a level change: Submit Downgrade when paid
    ("Login", 0.0, "PUT", 307),
    ("Logout", 0.0, "PUT", 307),
    ("Downgrade", 0.0, "GET", 200),
    ("Submit Downgrade", 0.0, "PUT", 307),
]
PAGES = [p[0] for p in _PAGES]
_P = {name: i for i, name in enumerate(PAGES)}
_WEIGHTS = np.array([p[1] for p in _PAGES])
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()
_HOURLY = np.array(
    [3, 2, 1.5, 1, 1, 1.5, 2.5, 4, 5, 5, 5, 5.5, 6, 6, 6, 6.5, 7, 8, 9, 9.5, 9, 8, 6, 4.5]
)
_HOURLY = _HOURLY / _HOURLY.sum()


@dataclass(frozen=True)
class MusicSimConfig:
    users: int = 100
    days: float = 1.0
    seed: int = 0
    start: datetime | None = None  # default: midnight UTC, ``days`` days ago
    sessions_per_day: float = 1.5  # per user, on average
    events_per_session: float = 25.0  # on average
    logged_out_share: float = 0.06  # sessions that start logged out (then log in)
    logout_share: float = 0.2  # sessions that end with Logout
    catalogue_size: int = 20_000
    zipf_s: float = 1.05  # song popularity ~ 1 / rank^s
    real_catalogue: bool = True

    def resolved_start(self) -> datetime:
        if self.start is not None:
            return self.start.astimezone(UTC)
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return today - timedelta(days=int(np.ceil(self.days)))


def _zipf_ranks(rng: np.random.Generator, n: int, size: int, s: float) -> np.ndarray:
    weights = 1.0 / np.arange(1, size + 1) ** s
    cdf = np.cumsum(weights)
    ranks: np.ndarray = np.searchsorted(cdf, rng.random(n) * cdf[-1]).clip(0, size - 1)
    return ranks


def _within(groups: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Cumulative sum of ``values`` restarting at each new value of sorted ``groups``."""
    total = np.cumsum(values)
    first = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    base = np.repeat(total[first] - values[first], np.diff(np.r_[first, len(values)]))
    out: np.ndarray = total - base
    return out


def _no_overlap(users: np.ndarray, starts: np.ndarray, durations: np.ndarray) -> np.ndarray:
    """Session starts moved later where a user's previous session still runs (a user
    listens in one session at a time): ``a_i = max(s_i, a_{i-1} + d_{i-1} + pause)``,
    computed as a running maximum per user (sessions sorted by user, then start)."""
    step = durations + 60.0  # a minute at least between two sessions of a user
    before = _within(users, step) - step  # the steps of the user's earlier sessions
    big = 1e13  # keeps the running maximum inside each user's sessions
    lifted = np.maximum.accumulate(starts - before + users * big) - users * big
    moved: np.ndarray = lifted + before
    return moved


def generate_frame(config: MusicSimConfig, catalogue: Catalogue | None = None) -> pl.DataFrame:
    """The events as a frame with Eventsim's columns (``userId`` a string), sorted by ``ts``."""
    rng = np.random.default_rng(config.seed)
    cat = catalogue or build_catalogue(config.catalogue_size, config.real_catalogue)
    n_users = config.users
    start_ms = int(config.resolved_start().timestamp() * 1000)
    span_s = config.days * 86400

    # users
    female = rng.random(n_users) < 0.5
    gender = np.where(female, "F", "M")
    first = np.where(
        female,
        np.array(FIRST_NAMES["F"])[rng.integers(0, len(FIRST_NAMES["F"]), n_users)],
        np.array(FIRST_NAMES["M"])[rng.integers(0, len(FIRST_NAMES["M"]), n_users)],
    )
    last = np.array(LAST_NAMES)[rng.integers(0, len(LAST_NAMES), n_users)]
    loc = rng.integers(0, len(LOCATIONS), n_users)
    agent = rng.integers(0, len(USER_AGENTS), n_users)
    registered = start_ms - rng.uniform(86400e3, 400 * 86400e3, n_users).round(-3) - 204.0
    paid0 = rng.random(n_users) < 0.35
    activity = rng.lognormal(0.0, 0.7, n_users)

    # sessions, sorted by user then start
    per_user = rng.poisson(config.sessions_per_day * config.days * activity / np.exp(0.245))
    s_user = np.repeat(np.arange(n_users), per_user)
    n_sessions = len(s_user)
    day = rng.integers(0, max(int(np.ceil(config.days)), 1), n_sessions)
    hour = rng.choice(24, n_sessions, p=_HOURLY)
    s_start = (day * 86400 + hour * 3600 + rng.uniform(0, 3600, n_sessions)).clip(0, span_s - 1)
    order = np.lexsort((s_start, s_user))
    s_user, s_start = s_user[order], s_start[order]
    s_len = 1 + rng.geometric(1.0 / config.events_per_session, n_sessions).clip(0, 400)
    logged_out = (rng.random(n_sessions) < config.logged_out_share) & (s_len >= 3)
    logout = rng.random(n_sessions) < config.logout_share

    # events
    sess = np.repeat(np.arange(n_sessions), s_len)
    n = len(sess)
    offsets = np.r_[0, np.cumsum(s_len)[:-1]]
    item = np.arange(n) - np.repeat(offsets, s_len)
    last_item = item == s_len[sess] - 1
    page = rng.choice(len(PAGES), n, p=_WEIGHTS)
    page[item == 0] = _P["Home"]
    out = logged_out[sess]
    page[out & (item == 1)] = _P["Login"]
    page[logout[sess] & last_item & (item > 1)] = _P["Logout"]
    logged_in = ~(out & (item <= 1))
    user = s_user[sess]

    # level: every level change flips it, from each user's starting level
    change = (page == _P["Submit Upgrade"]) & logged_in
    flips_before = _within(user, change.astype(np.int64)) - change
    paid = paid0[user] ^ (flips_before % 2 == 1)
    page[change & paid] = _P["Submit Downgrade"]
    page[(page == _P["Upgrade"]) & paid] = _P["Downgrade"]
    page[(page == _P["Roll Advert"]) & paid] = _P["Home"]

    # songs and times: the next event comes one song (or a short page view) later
    play = page == _P["NextSong"]
    rank = _zipf_ranks(rng, int(play.sum()), len(cat), config.zipf_s)
    song_idx = np.full(n, -1)
    song_idx[play] = rank
    length = np.where(play, cat.length[song_idx.clip(0)], np.nan)
    took = np.where(play, length, rng.exponential(25.0, n) + 1.0)
    gap = np.r_[0.0, took[:-1]]
    gap[item == 0] = 0.0
    rel = _within(sess, gap)  # seconds since the session's start
    s_start = _no_overlap(s_user, s_start, rel[offsets + s_len - 1] + took[offsets + s_len - 1])
    session_id = np.empty(n_sessions, dtype=np.int64)  # numbered by start time, from 1
    session_id[np.argsort(s_start, kind="stable")] = np.arange(1, n_sessions + 1)
    ts = start_ms + ((s_start[sess] + rel) * 1000).astype(np.int64)

    status = np.array([p[3] for p in _PAGES], dtype=np.int64)[page]
    out_mask = pl.Series(~logged_in)
    no_song = pl.Series(~play)

    def person(
        values: Sequence[str] | np.ndarray, idx: np.ndarray, null: str | None = None
    ) -> pl.Series:
        """``values[idx[user]]`` per event, ``null`` for logged-out events."""
        return pl.Series(values, dtype=pl.String).gather(idx[user]).set(out_mask, null)

    def song(values: np.ndarray) -> pl.Series:
        return pl.Series(values, dtype=pl.String).gather(song_idx.clip(0)).set(no_song, None)

    frame = pl.DataFrame(
        {
            "artist": song(cat.artist),
            "auth": pl.Series(["Logged In", "Logged Out"]).gather((~logged_in).astype(np.int8)),
            "firstName": person(first, np.arange(n_users)),
            "gender": person(gender, np.arange(n_users)),
            "itemInSession": item.astype(np.int64),
            "lastName": person(last, np.arange(n_users)),
            "length": pl.Series(length).fill_nan(None),
            "level": pl.Series(["free", "paid"]).gather(paid.astype(np.int8)),
            "location": person(LOCATIONS, loc),
            "method": pl.Series([p[2] for p in _PAGES]).gather(page),
            "page": pl.Series(PAGES).gather(page),
            "registration": pl.Series(registered[user]).set(out_mask, None),
            "sessionId": session_id[sess],
            "song": song(cat.song),
            "status": status,
            "ts": ts,
            "userAgent": person(USER_AGENTS, agent),
            "userId": pl.Series((user + 1).astype(np.int64)).cast(pl.String).set(out_mask, ""),
        }
    )
    end_ms = start_ms + int(span_s * 1000)  # sessions still running at the end are cut
    return frame.filter(pl.col("ts") < end_ms).sort("ts", "sessionId", "itemInSession")


def to_jsonl(frame: pl.DataFrame) -> bytes:
    """JSON lines with Eventsim's keys and value shapes (``registration`` a float)."""
    data = frame.select(COLUMNS).write_ndjson()
    return data.encode() if isinstance(data, str) else data
