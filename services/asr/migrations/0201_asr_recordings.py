"""ASR: per-recording language and speakers.

Revision ID: 0201_asr_recordings
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0201_asr_recordings"
down_revision = None
branch_labels = ("asr",)
depends_on = "0001_plumbing"


def upgrade() -> None:
    op.create_table(
        "asr_recordings",
        sa.Column("recording_id", sa.String(200), primary_key=True),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("language_probability", sa.Float(), nullable=False),
        sa.Column("language_source", sa.String(16), nullable=False),
        sa.Column("speakers", sa.JSON(), nullable=False),
        sa.Column("segments_drafted", sa.Integer(), nullable=False),
        sa.Column("ended", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("asr_recordings")
