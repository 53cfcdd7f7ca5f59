"""music: user_level_events keyed by (user_id, ts, event_key) — one index instead of two

The table is only appended to and read back per user and time (the SCD2 merge of
``dim_user``); its separate ``event_key`` primary key cost as much PostgreSQL CPU per load
as the (user_id, ts) index (2M rows, loaded sorted: 8.5 s with both, 4.9 s with the
composite key alone). ``event_key`` stays unique in practice (a record has one user and
one time), and a replayed row still conflicts.

Revision ID: music_0003
Revises: music_0002
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "music_0003"
down_revision = "music_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("user_level_events_user_id_ts", table_name="user_level_events")
    op.drop_constraint("user_level_events_pkey", "user_level_events", type_="primary")
    op.create_primary_key(
        "user_level_events_pkey", "user_level_events", ["user_id", "ts", "event_key"]
    )


def downgrade() -> None:
    op.drop_constraint("user_level_events_pkey", "user_level_events", type_="primary")
    op.create_primary_key("user_level_events_pkey", "user_level_events", ["event_key"])
    op.create_index("user_level_events_user_id_ts", "user_level_events", ["user_id", "ts"])
