"""The music star schema in the PostgreSQL warehouse (SQLModel table classes; the lake
has the same columns, ``domains.music.gold``). Created by the Alembic branch ``music``
(``stores/warehouse_migrations``). Keys are 63-bit hashes of natural keys
(``gold.keys``); no foreign-key constraints (the loads keep them, as in most
warehouses), but every ``*_key`` of ``fact_listen`` names its dimension."""

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

TZ = sa.DateTime(timezone=True)


class DimDate(SQLModel, table=True):
    __tablename__ = "dim_date"
    date_key: int = Field(
        sa_type=sa.BigInteger,
        primary_key=True,
        sa_column_kwargs={"autoincrement": False},
        description="yyyymmdd",
    )
    date: dt.date = Field(sa_type=sa.Date)
    year: int = Field(sa_type=sa.BigInteger)
    quarter: int = Field(sa_type=sa.BigInteger)
    month: int = Field(sa_type=sa.BigInteger)
    month_name: str = Field(sa_type=sa.Text)
    day: int = Field(sa_type=sa.BigInteger)
    day_of_week: int = Field(sa_type=sa.BigInteger)
    day_name: str = Field(sa_type=sa.Text)
    day_of_year: int = Field(sa_type=sa.BigInteger)
    iso_week: int = Field(sa_type=sa.BigInteger)
    is_weekend: bool
    year_month: str = Field(sa_type=sa.Text)


class DimTimeOfDay(SQLModel, table=True):
    __tablename__ = "dim_time_of_day"
    time_key: int = Field(
        sa_type=sa.BigInteger,
        primary_key=True,
        sa_column_kwargs={"autoincrement": False},
        description="hhmm",
    )
    hour: int = Field(sa_type=sa.BigInteger)
    minute: int = Field(sa_type=sa.BigInteger)
    day_part: str = Field(sa_type=sa.Text)
    label: str = Field(sa_type=sa.Text)


class DimUser(SQLModel, table=True):
    """One row per version of a user (SCD type 2 on ``level``)."""

    __tablename__ = "dim_user"
    __table_args__ = (sa.Index("dim_user_user_id_valid_from", "user_id", "valid_from"),)
    user_key: int = Field(
        sa_type=sa.BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    user_id: int = Field(sa_type=sa.BigInteger)
    level: str | None = Field(default=None, sa_type=sa.Text)
    first_name: str | None = Field(default=None, sa_type=sa.Text)
    last_name: str | None = Field(default=None, sa_type=sa.Text)
    gender: str | None = Field(default=None, sa_type=sa.Text)
    registration: dt.datetime | None = Field(default=None, sa_type=TZ)
    valid_from: dt.datetime = Field(sa_type=TZ)
    valid_to: dt.datetime | None = Field(default=None, sa_type=TZ)
    last_seen: dt.datetime = Field(sa_type=TZ)
    is_current: bool


class UserLevelEvent(SQLModel, table=True):
    """Every level observation of a known user (one per event): the history the SCD2
    merge of ``dim_user`` reads back when an event arrives out of order. Keyed by
    (user_id, ts, event_key): the one index its loads maintain is the one its reads use
    (migration ``music_0003``)."""

    __tablename__ = "user_level_events"
    __table_args__ = (
        sa.PrimaryKeyConstraint("user_id", "ts", "event_key", name="user_level_events_pkey"),
    )
    event_key: str = Field(sa_type=sa.Text, description="silver _record_id")
    user_id: int = Field(sa_type=sa.BigInteger)
    ts: dt.datetime = Field(sa_type=TZ)
    level: str = Field(sa_type=sa.Text)


class DimArtist(SQLModel, table=True):
    __tablename__ = "dim_artist"
    artist_key: int = Field(
        sa_type=sa.BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    name: str = Field(sa_type=sa.Text)


class DimSong(SQLModel, table=True):
    __tablename__ = "dim_song"
    song_key: int = Field(
        sa_type=sa.BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    title: str = Field(sa_type=sa.Text)
    artist_key: int = Field(sa_type=sa.BigInteger)
    artist_name: str = Field(sa_type=sa.Text)
    duration_s: float | None = Field(default=None, sa_type=sa.Double)


class DimLocation(SQLModel, table=True):
    __tablename__ = "dim_location"
    location_key: int = Field(
        sa_type=sa.BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    location: str = Field(sa_type=sa.Text, description="as Eventsim writes it")
    city: str | None = Field(default=None, sa_type=sa.Text, description="first city")
    metro: str | None = Field(default=None, sa_type=sa.Text, description="every city")
    state: str | None = Field(default=None, sa_type=sa.Text, description="NY or NY-NJ-PA")
    primary_state: str | None = Field(default=None, sa_type=sa.Text)


class DimUserAgent(SQLModel, table=True):
    __tablename__ = "dim_user_agent"
    user_agent_key: int = Field(
        sa_type=sa.BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    user_agent: str = Field(sa_type=sa.Text)
    browser: str | None = Field(default=None, sa_type=sa.Text)
    browser_version: str | None = Field(default=None, sa_type=sa.Text)
    os: str | None = Field(default=None, sa_type=sa.Text)
    os_version: str | None = Field(default=None, sa_type=sa.Text)
    device: str | None = Field(default=None, sa_type=sa.Text)
    device_type: str | None = Field(default=None, sa_type=sa.Text)


class FactListen(SQLModel, table=True):
    """One row per song play (page ``NextSong``)."""

    __tablename__ = "fact_listen"
    __table_args__ = (
        sa.Index("fact_listen_date_key", "date_key"),
        sa.Index("fact_listen_user_id_ts", "user_id", "ts"),
    )
    listen_key: str = Field(sa_type=sa.Text, primary_key=True, description="silver _record_id")
    ts: dt.datetime = Field(sa_type=TZ)
    date_key: int = Field(sa_type=sa.BigInteger)
    time_key: int = Field(sa_type=sa.BigInteger)
    user_key: int | None = Field(default=None, sa_type=sa.BigInteger)
    user_id: int | None = Field(default=None, sa_type=sa.BigInteger)
    song_key: int = Field(sa_type=sa.BigInteger)
    artist_key: int = Field(sa_type=sa.BigInteger)
    location_key: int | None = Field(default=None, sa_type=sa.BigInteger)
    user_agent_key: int | None = Field(default=None, sa_type=sa.BigInteger)
    session_id: int = Field(sa_type=sa.BigInteger)
    item_in_session: int = Field(sa_type=sa.BigInteger)
    level: str | None = Field(default=None, sa_type=sa.Text)
    duration_s: float | None = Field(default=None, sa_type=sa.Double)


TABLES: tuple[type[SQLModel], ...] = (
    DimDate,
    DimTimeOfDay,
    UserLevelEvent,
    DimUser,
    DimArtist,
    DimSong,
    DimLocation,
    DimUserAgent,
    FactListen,
)
