"""Annotate: labels reviewed by people, kept as training data.

Revision ID: 0501_annotate
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0501_annotate"
down_revision = None
branch_labels = ("annotate",)
depends_on = "0001_plumbing"


def upgrade() -> None:
    op.create_table(
        "annotate_reviewed_labels",
        sa.Column("segment_id", sa.String(200), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True),
        sa.Column("recording_id", sa.String(200), nullable=False, index=True),
        sa.Column("tenant_id", sa.String(200), nullable=False),
        sa.Column("language", sa.String(16), nullable=False, index=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("sentiment", sa.String(64), nullable=False),
        sa.Column("intent", sa.String(64), nullable=False),
        sa.Column("model_sentiment", sa.String(64), nullable=False),
        sa.Column("model_intent", sa.String(64), nullable=False),
        sa.Column("entities", sa.JSON(), nullable=False),
        sa.Column("reviewed_by", sa.String(200), nullable=False),
        sa.Column("task_id", sa.String(200), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("annotate_reviewed_labels")
