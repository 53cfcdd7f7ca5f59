"""music: user_level_events, the level history the SCD2 merge of dim_user re-reads

Revision ID: music_0002
Revises: music_0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "music_0002"
down_revision = "music_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_level_events",
        sa.Column("event_key", sa.Text(), primary_key=True),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("level", sa.Text(), nullable=False),
    )
    op.create_index("user_level_events_user_id_ts", "user_level_events", ["user_id", "ts"])


def downgrade() -> None:
    op.drop_table("user_level_events")
