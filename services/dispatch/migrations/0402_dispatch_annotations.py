"""Dispatch: the model's labels each label-review task checks (``AnnotatedTranscript``).

Revision ID: 0402_dispatch_annotations
Revises: 0401_dispatch
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0402_dispatch_annotations"
down_revision = "0401_dispatch"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dispatch_annotations",
        sa.Column("task_id", sa.String(200), primary_key=True),
        sa.Column("segment_id", sa.String(200), nullable=False, index=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("annotation", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("dispatch_annotations")
