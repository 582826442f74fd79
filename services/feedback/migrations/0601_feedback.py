"""Feedback: training examples, dataset snapshots and their members, ASR retraining requests.

Revision ID: 0601_feedback
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0601_feedback"
down_revision = None
branch_labels = ("feedback",)
depends_on = "0001_plumbing"


def upgrade() -> None:
    op.create_table(
        "feedback_examples",
        sa.Column("segment_id", sa.String(200), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("recording_id", sa.String(200), nullable=False, index=True),
        sa.Column("tenant_id", sa.String(200), nullable=False),
        sa.Column("domain", sa.String(200), nullable=False, index=True),
        sa.Column("language", sa.String(16), nullable=False, index=True),
        sa.Column("speaker_id", sa.String(400), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("draft_text", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("corrected", sa.Boolean(), nullable=False),
        sa.Column("labels_reviewed", sa.Boolean(), nullable=False),
        sa.Column("sentiment", sa.String(64), nullable=False),
        sa.Column("intent", sa.String(64), nullable=False),
        sa.Column("gold", sa.Boolean(), nullable=False),
        sa.Column("evaluation", sa.Boolean(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False, index=True),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "feedback_snapshots",
        sa.Column("snapshot_id", sa.String(100), primary_key=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
    )
    op.create_table(
        "feedback_snapshot_members",
        sa.Column("snapshot_id", sa.String(100), primary_key=True),
        sa.Column("segment_id", sa.String(200), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("split", sa.String(16), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "feedback_retrain_requests",
        sa.Column("request_id", sa.String(100), primary_key=True),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("snapshot_id", sa.String(100), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("corrected_hours", sa.Float(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False, index=True),
    )


def downgrade() -> None:
    op.drop_table("feedback_retrain_requests")
    op.drop_table("feedback_snapshot_members")
    op.drop_table("feedback_snapshots")
    op.drop_table("feedback_examples")
