"""Feedback: terms mined from linguists' corrections, their occurrences and published versions.

Revision ID: 0602_feedback_vocabulary
Revises: 0601_feedback
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0602_feedback_vocabulary"
down_revision = "0601_feedback"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feedback_vocabulary_occurrences",
        sa.Column("segment_id", sa.String(200), primary_key=True),
        sa.Column("term_key", sa.String(300), primary_key=True),
        sa.Column("domain", sa.String(200), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("recording_id", sa.String(200), nullable=False),
        sa.Column("surface", sa.String(300), nullable=False),
        sa.Column("mistaken_as", sa.String(300), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("sentence", sa.Text(), nullable=False),
        sa.Index("ix_feedback_vocabulary_occurrences_term", "domain", "language", "term_key"),
    )
    op.create_table(
        "feedback_vocabulary",
        sa.Column("term_id", sa.String(100), primary_key=True),
        sa.Column("domain", sa.String(200), nullable=False, index=True),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("term_key", sa.String(300), nullable=False),
        sa.Column("term", sa.String(300), nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("recordings", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False, index=True),
        sa.Column("reviewed_by", sa.String(200), nullable=False),
        sa.Column("mistaken_as", sa.String(300), nullable=False),
        sa.Column("examples", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.UniqueConstraint("domain", "language", "term_key", name="uq_feedback_vocabulary_term"),
    )
    op.create_table(
        "feedback_vocabulary_versions",
        sa.Column("domain", sa.String(200), primary_key=True),
        sa.Column("language", sa.String(16), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("published_at", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("feedback_vocabulary_versions")
    op.drop_table("feedback_vocabulary")
    op.drop_table("feedback_vocabulary_occurrences")
