"""Dispatch: tasks, segments, people and tokens, transcript versions, audit trail.

Revision ID: 0401_dispatch
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0401_dispatch"
down_revision = None
branch_labels = ("dispatch",)
depends_on = "0001_plumbing"

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "dispatch_segments",
        sa.Column("segment_id", sa.String(200), primary_key=True),
        sa.Column("recording_id", sa.String(200), nullable=False, index=True),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("verdict", sa.LargeBinary(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
    )
    op.create_table(
        "dispatch_tasks",
        sa.Column("task_id", sa.String(200), primary_key=True),
        sa.Column("segment_id", sa.String(200), nullable=False, index=True),
        sa.Column("recording_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.Integer(), nullable=False),
        sa.Column("state", sa.Integer(), nullable=False, index=True),
        sa.Column("tier", sa.String(32), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("dialect", sa.String(32), nullable=False),
        sa.Column("domain", sa.String(64), nullable=False),
        sa.Column("tenant_id", sa.String(200), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("deadline", sa.Float(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("assignee", sa.String(200), nullable=False),
        sa.Column("lease_expires_at", sa.Float(), nullable=False),
        sa.Column("base_version", sa.Integer(), nullable=False),
        sa.Column("worked_by", sa.JSON(), nullable=False),
        sa.Column("skipped_by", sa.JSON(), nullable=False),
        sa.Column("rejections", sa.Integer(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("double_blind_slot", sa.Integer(), nullable=False),
        sa.Column("gold", sa.Boolean(), nullable=False),
        sa.Column("parent_task_id", sa.String(200), nullable=False),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("trace_id", sa.String(64), nullable=False),
        sa.Column("split_at", sa.JSON(), nullable=False),
        sa.Column("merged", sa.JSON(), nullable=False),
        sa.Column("row_version", sa.Integer(), nullable=False),
    )
    op.create_index("ix_dispatch_tasks_queue", "dispatch_tasks", ["state", "tier", "language", "priority"])
    op.create_table(
        "dispatch_users",
        sa.Column("subject", sa.String(200), primary_key=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("domains", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "dispatch_tokens",
        sa.Column("token_id", sa.String(64), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("subject", sa.String(200), nullable=False, index=True),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("revoked_at", sa.Float(), nullable=False),
    )
    op.create_table(
        "dispatch_versions",
        sa.Column("segment_id", sa.String(200), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("task_id", sa.String(200), nullable=False),
        sa.Column("segment", sa.LargeBinary(), nullable=False),
        sa.Column("diff", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
    )
    op.create_table(
        "dispatch_audit",
        sa.Column("entry_id", BigId, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Float(), nullable=False, index=True),
        sa.Column("actor", sa.String(200), nullable=False, index=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("task_id", sa.String(200), nullable=False, index=True),
        sa.Column("allowed", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("before", sa.Text(), nullable=False),
        sa.Column("after", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "dispatch_audit",
        "dispatch_versions",
        "dispatch_tokens",
        "dispatch_users",
        "dispatch_tasks",
        "dispatch_segments",
    ):
        op.drop_table(table)
