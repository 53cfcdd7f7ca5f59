"""music: star schema (fact_listen and seven dimensions) and the BI marts

Revision ID: music_0001
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "music_0001"
down_revision = None
branch_labels = ("music",)
depends_on = None

TZ = sa.DateTime(timezone=True)


def _key(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), primary_key=True, autoincrement=False)


def _big(name: str, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def _text(name: str, nullable: bool = True) -> sa.Column[str]:
    return sa.Column(name, sa.Text(), nullable=nullable)


MARTS = {
    "mart_location_usage": """
        SELECT l.location_key, l.location, l.city, l.metro, l.state, l.primary_state,
               count(*) AS plays, sum(f.duration_s) / 3600.0 AS hours,
               count(DISTINCT f.user_id) AS users, count(DISTINCT f.session_id) AS sessions
        FROM fact_listen f JOIN dim_location l ON l.location_key = f.location_key
        GROUP BY l.location_key, l.location, l.city, l.metro, l.state, l.primary_state""",
    "mart_song_daily": """
        SELECT f.date_key, d.date, f.song_key, s.title, s.artist_name,
               count(*) AS plays, sum(f.duration_s) AS seconds
        FROM fact_listen f
        JOIN dim_song s ON s.song_key = f.song_key
        JOIN dim_date d ON d.date_key = f.date_key
        GROUP BY f.date_key, d.date, f.song_key, s.title, s.artist_name""",
    "mart_user_daily": """
        SELECT f.date_key, d.date, f.user_id, u.first_name, u.last_name,
               count(*) AS plays, sum(f.duration_s) AS seconds
        FROM fact_listen f
        JOIN dim_user u ON u.user_key = f.user_key
        JOIN dim_date d ON d.date_key = f.date_key
        GROUP BY f.date_key, d.date, f.user_id, u.first_name, u.last_name""",
}
MART_KEYS = {
    "mart_location_usage": "location_key",
    "mart_song_daily": "date_key, song_key",
    "mart_user_daily": "date_key, user_id, first_name, last_name",
}


def upgrade() -> None:
    op.create_table(
        "dim_date",
        _key("date_key"),
        sa.Column("date", sa.Date(), nullable=False),
        *[_big(c) for c in ("year", "quarter", "month")],
        _text("month_name", False),
        _big("day"),
        _big("day_of_week"),
        _text("day_name", False),
        _big("day_of_year"),
        _big("iso_week"),
        sa.Column("is_weekend", sa.Boolean(), nullable=False),
        _text("year_month", False),
    )
    op.create_table(
        "dim_time_of_day",
        _key("time_key"),
        _big("hour"),
        _big("minute"),
        _text("day_part", False),
        _text("label", False),
    )
    op.create_table(
        "dim_user",
        _key("user_key"),
        _big("user_id"),
        _text("level"),
        _text("first_name"),
        _text("last_name"),
        _text("gender"),
        sa.Column("registration", TZ, nullable=True),
        sa.Column("valid_from", TZ, nullable=False),
        sa.Column("valid_to", TZ, nullable=True),
        sa.Column("last_seen", TZ, nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=False),
    )
    op.create_index("dim_user_user_id_valid_from", "dim_user", ["user_id", "valid_from"])
    op.create_table("dim_artist", _key("artist_key"), _text("name", False))
    op.create_table(
        "dim_song",
        _key("song_key"),
        _text("title", False),
        _big("artist_key"),
        _text("artist_name", False),
        sa.Column("duration_s", sa.Double(), nullable=True),
    )
    op.create_table(
        "dim_location",
        _key("location_key"),
        _text("location", False),
        _text("city"),
        _text("metro"),
        _text("state"),
        _text("primary_state"),
    )
    op.create_table(
        "dim_user_agent",
        _key("user_agent_key"),
        _text("user_agent", False),
        *[_text(c) for c in ("browser", "browser_version", "os", "os_version")],
        _text("device"),
        _text("device_type"),
    )
    op.create_table(
        "fact_listen",
        sa.Column("listen_key", sa.Text(), primary_key=True),
        sa.Column("ts", TZ, nullable=False),
        _big("date_key"),
        _big("time_key"),
        _big("user_key", True),
        _big("user_id", True),
        _big("song_key"),
        _big("artist_key"),
        _big("location_key", True),
        _big("user_agent_key", True),
        _big("session_id"),
        _big("item_in_session"),
        _text("level"),
        sa.Column("duration_s", sa.Double(), nullable=True),
    )
    op.create_index("fact_listen_date_key", "fact_listen", ["date_key"])
    op.create_index("fact_listen_user_id_ts", "fact_listen", ["user_id", "ts"])
    for name, select in MARTS.items():
        op.execute(f"CREATE MATERIALIZED VIEW {name} AS {select}")
        op.execute(f"CREATE UNIQUE INDEX {name}_key ON {name} ({MART_KEYS[name]})")


def downgrade() -> None:
    for name in MARTS:
        op.execute(f"DROP MATERIALIZED VIEW IF EXISTS {name}")
    for table in (
        "fact_listen",
        "dim_user_agent",
        "dim_location",
        "dim_song",
        "dim_artist",
        "dim_user",
        "dim_time_of_day",
        "dim_date",
    ):
        op.drop_table(table)
