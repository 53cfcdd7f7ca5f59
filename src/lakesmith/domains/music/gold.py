"""The music star schema, built with Polars from ``music.events`` silver rows.

``fact_listen`` (one row per ``NextSong`` play) and its dimensions: ``dim_user`` (SCD
type 2 on ``level``: every fact points to the version valid at its ``ts``, late events
included), ``dim_song``, ``dim_artist``, ``dim_location`` (Eventsim's "City[-City…],
ST[-ST…]" metro areas), ``dim_user_agent`` (``useragent``'s UDF), ``dim_date`` and
``dim_time_of_day`` (``gold.calendar``). Surrogate keys are hashes of natural keys
(``gold.keys``), the same in the lake and the warehouse. The warehouse columns are the
SQLModel classes of ``stores.warehouse_music``; the lake gets the same columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import polars as pl

from lakesmith.core.columns import RECORD_ID
from lakesmith.gold import calendar, scd2
from lakesmith.gold.keys import surrogate_key
from lakesmith.gold.model import Change, GoldState, GoldTable, conform
from lakesmith.stores import warehouse_music as wm
from lakesmith.stores.warehouse import columns_of

LISTEN = "NextSong"
_TS_DAY = (("ts", "day"),)
_BY_USER = ("user_id", "ts")  # the (user_id, ts) index the merges read back through


def _table(name: str, model: type, key: str, **kw: object) -> GoldTable:
    return GoldTable(name, columns_of(model), key, **kw)  # type: ignore[arg-type]


TABLES = (
    _table("dim_date", wm.DimDate, "date_key", static=True),
    _table("dim_time_of_day", wm.DimTimeOfDay, "time_key", static=True),
    _table(
        "user_level_events",
        wm.UserLevelEvent,
        "event_key",
        partition_by=_TS_DAY,
        load_order=_BY_USER,
    ),
    _table("dim_user", wm.DimUser, "user_key"),
    _table("dim_artist", wm.DimArtist, "artist_key"),
    _table("dim_song", wm.DimSong, "song_key"),
    _table("dim_location", wm.DimLocation, "location_key"),
    _table("dim_user_agent", wm.DimUserAgent, "user_agent_key"),
    _table("fact_listen", wm.FactListen, "listen_key", partition_by=_TS_DAY, load_order=_BY_USER),
)
USER_ATTRIBUTES = ("first_name", "last_name", "gender", "registration")


def _keyed(frame: pl.DataFrame, natural: Sequence[str], key: str) -> pl.DataFrame:
    """``frame`` with the surrogate ``key`` of ``natural`` (null when all of it is null)."""
    keyed = surrogate_key(frame, natural, key)
    present = pl.any_horizontal([pl.col(c).is_not_null() for c in natural])
    return keyed.with_columns(pl.when(present).then(pl.col(key)).alias(key))


def parse_locations(locations: pl.Series) -> pl.DataFrame:
    """Distinct Eventsim locations → city (first), metro (all cities), state (``NY`` or
    ``NY-NJ-PA``) and primary state."""
    frame = pl.DataFrame({"location": locations.drop_nulls().unique().sort()})
    parts = pl.col("location").str.extract_groups(r"^(.*), ([A-Z]{2}(?:-[A-Z]{2})*)$")
    return frame.with_columns(
        parts.struct.field("1").alias("metro"), parts.struct.field("2").alias("state")
    ).with_columns(
        pl.col("metro").str.split("-").list.first().alias("city"),
        pl.col("state").str.split("-").list.first().alias("primary_state"),
    )


class MusicModel:
    name = "music"
    tables = TABLES
    marts = ("mart_location_usage", "mart_song_daily", "mart_user_daily")

    def table(self, name: str) -> GoldTable:
        return next(t for t in self.tables if t.name == name)

    def static_rows(self, table: str) -> pl.DataFrame:
        if table == "dim_date":
            rows = calendar.dim_date().with_columns(pl.col("date").cast(pl.Datetime("us", "UTC")))
        elif table == "dim_time_of_day":
            rows = calendar.dim_time_of_day()
        else:
            raise KeyError(table)
        return conform(rows, self.table(table))

    def change(self, table: str, silver: pl.DataFrame, state: GoldState) -> Change | None:
        if silver.height == 0:
            return None
        build = getattr(self, f"_{table}")
        change: Change | None = build(silver, state)
        if change is None:
            return None
        return Change(conform(change.rows, self.table(table)), change.mode, change.where)

    # -- type 1 dimensions: insert the keys not seen before ------------------------------

    def _new(self, rows: pl.DataFrame, table: str, state: GoldState) -> Change | None:
        key = self.table(table).key
        rows = rows.filter(pl.col(key).is_not_null()).unique(key, keep="first")
        if rows.height == 0:
            return None
        have = state.read(table, [key], [(key, "in", rows[key].to_list())])
        new = rows.join(have, on=key, how="anti")
        return Change(new) if new.height else None

    def _dim_artist(self, silver: pl.DataFrame, state: GoldState) -> Change | None:
        names = silver.select(pl.col("artist").drop_nulls().unique().alias("name"))
        return self._new(_keyed(names, ["name"], "artist_key"), "dim_artist", state)

    def _dim_song(self, silver: pl.DataFrame, state: GoldState) -> Change | None:
        songs = (
            silver.filter(pl.col("song").is_not_null() & pl.col("artist").is_not_null())
            .sort("ts")
            .group_by("artist", "song")
            .agg(pl.col("length").drop_nulls().first().alias("duration_s"))
            .rename({"song": "title", "artist": "artist_name"})
        )
        songs = _keyed(songs, ["artist_name", "title"], "song_key")
        songs = _keyed(songs, ["artist_name"], "artist_key")
        return self._new(songs, "dim_song", state)

    def _dim_location(self, silver: pl.DataFrame, state: GoldState) -> Change | None:
        places = _keyed(parse_locations(silver["location"]), ["location"], "location_key")
        return self._new(places, "dim_location", state)

    def _dim_user_agent(self, silver: pl.DataFrame, state: GoldState) -> Change | None:
        from lakesmith.domains.music.useragent import parse_user_agents

        agents = silver.select(pl.col("user_agent").drop_nulls().unique())
        have = state.read(
            "dim_user_agent",
            ["user_agent_key"],
            [("user_agent_key", "in", _keyed(agents, ["user_agent"], "k")["k"].to_list())],
        )
        keyed = _keyed(agents, ["user_agent"], "user_agent_key").join(
            have, on="user_agent_key", how="anti"
        )
        if keyed.height == 0:
            return None
        parsed = parse_user_agents(keyed["user_agent"])  # the UDF, only for new agents
        return Change(keyed.join(parsed, on="user_agent", how="left"))

    # -- dim_user: SCD type 2 on level ----------------------------------------------------

    def _dim_user(self, silver: pl.DataFrame, state: GoldState) -> Change | None:
        obs = silver.filter(pl.col("user_id").is_not_null() & pl.col("level").is_not_null())
        if obs.height == 0:
            return None
        users = obs["user_id"].unique().to_list()
        existing = state.read("dim_user", None, [("user_id", "in", users)])
        obs = pl.concat([obs, self._interior(obs, existing, state)], how="diagonal_relaxed")
        versions = scd2.merge_versions(
            obs, existing, "user_id", "ts", ["level"], USER_ATTRIBUTES, "user_key"
        )
        if versions.height == 0:
            return None
        changed = versions["user_id"].unique().to_list()
        return Change(versions, "replace", (("user_id", "in", changed),))

    def _user_level_events(self, silver: pl.DataFrame, state: GoldState) -> Change | None:
        """The batch's level observations (what ``dim_user`` re-reads for late events)."""
        rows = silver.filter(pl.col("user_id").is_not_null() & pl.col("level").is_not_null())
        if rows.height == 0:
            return None
        return Change(rows.select(pl.col(RECORD_ID).alias("event_key"), "user_id", "ts", "level"))

    @staticmethod
    def _interior(obs: pl.DataFrame, existing: pl.DataFrame, state: GoldState) -> pl.DataFrame:
        """Every stored observation of the users with events older than their last one:
        a late event of another level inside a stored version splits it, and the version
        resumes at the first later observation of its level, which a stored version does
        not keep (only its first and last) — ``user_level_events`` has them all."""
        seen = existing.group_by("user_id").agg(pl.col("last_seen").max())
        late = obs.join(seen, on="user_id").filter(pl.col("ts") < pl.col("last_seen"))
        if late.height == 0:
            return obs.clear().select("user_id", "ts", "level")
        return state.read(
            "user_level_events",
            ["user_id", "ts", "level"],
            [("user_id", "in", late["user_id"].unique().to_list())],
        )

    # -- fact_listen ------------------------------------------------------------------------

    def _fact_listen(self, silver: pl.DataFrame, state: GoldState) -> Change | None:
        listens = silver.filter(pl.col("page") == LISTEN).select(
            pl.col(RECORD_ID).alias("listen_key"),
            "ts", "user_id", "session_id", "item_in_session", "level", "artist", "song",
            "location", "user_agent", pl.col("length").alias("duration_s"),
        )  # fmt: skip
        listens = _keyed(listens, ["artist", "song"], "song_key")
        listens = _keyed(listens, ["artist"], "artist_key")
        listens = _keyed(listens, ["location"], "location_key")
        listens = _keyed(listens, ["user_agent"], "user_agent_key")
        listens = listens.with_columns(
            calendar.date_key(pl.col("ts")).alias("date_key"),
            calendar.time_key(pl.col("ts")).alias("time_key"),
        )
        users = silver.filter(pl.col("user_id").is_not_null())
        if users.height == 0:
            return Change(listens) if listens.height else None
        ids = users["user_id"].unique().to_list()
        since = users["ts"].min()
        assert isinstance(since, datetime)
        versions = state.read(
            "dim_user", ["user_id", "valid_from", "user_key"], [("user_id", "in", ids)]
        )
        new = scd2.version_at(listens, versions, "user_id", "ts", "user_key")
        # facts already stored from ``since`` on may point to a version this batch split
        # or moved (events arriving out of order): re-point them
        stored = state.read("fact_listen", None, [("user_id", "in", ids), ("ts", ">=", since)])
        if stored.height == 0:
            return Change(new) if new.height else None
        again = scd2.version_at(
            stored.drop("user_key"), versions, "user_id", "ts", "user_key"
        ).select(stored.columns)
        moved = again.join(stored, on=stored.columns, how="anti", nulls_equal=True)
        if moved.height == 0:
            return Change(new) if new.height else None
        who = moved["user_id"].unique().to_list()
        start = moved["ts"].min()
        rewrite = again.filter(pl.col("user_id").is_in(who) & (pl.col("ts") >= start))
        rows = pl.concat([conform(new, self.table("fact_listen")), rewrite], how="diagonal_relaxed")
        return Change(rows, "replace", (("user_id", "in", who), ("ts", ">=", start)))


MODEL = MusicModel()
