"""Feedback: each retraining of a sentiment or intent classifier, promoted or refused, and why.

Revision ID: 0603_feedback_classifier_runs
Revises: 0602_feedback_vocabulary
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0603_feedback_classifier_runs"
down_revision = "0602_feedback_vocabulary"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feedback_classifier_runs",
        sa.Column("run_id", sa.String(100), primary_key=True),
        sa.Column("language", sa.String(16), nullable=False, index=True),
        sa.Column("task", sa.String(32), nullable=False),
        sa.Column("at", sa.Float(), nullable=False, index=True),
        sa.Column("labels_until", sa.Float(), nullable=False),
        sa.Column("reviewed_labels", sa.Integer(), nullable=False),
        sa.Column("new_labels", sa.Integer(), nullable=False),
        sa.Column("current_version", sa.String(64), nullable=False),
        sa.Column("candidate_version", sa.String(64), nullable=False),
        sa.Column("current_macro_f1", sa.Float(), nullable=False),
        sa.Column("candidate_macro_f1", sa.Float(), nullable=False),
        sa.Column("promoted", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("feedback_classifier_runs")
