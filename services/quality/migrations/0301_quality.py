"""Quality: decode attempts, corrections, agreement, gold references, named state.

Revision ID: 0301_quality
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0301_quality"
down_revision = None
branch_labels = ("quality",)
depends_on = "0001_plumbing"

NOW = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "quality_attempts",
        sa.Column("segment_id", sa.String(200), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True),
        sa.Column("recording_id", sa.String(200), nullable=False, index=True),
        sa.Column("draft", sa.LargeBinary(), nullable=False),
        sa.Column("fired", sa.JSON(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("created_at", NOW, nullable=False),
    )
    op.create_table(
        "quality_recordings",
        sa.Column("recording_id", sa.String(200), primary_key=True),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("language_source", sa.String(16), nullable=False),
    )
    op.create_table(
        "quality_corrections",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("segment_id", sa.String(200), nullable=False, index=True),
        sa.Column("recording_id", sa.String(200), nullable=False, index=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.String(200), nullable=False),
        sa.Column("language", sa.String(16), nullable=False, index=True),
        sa.Column("speaker", sa.String(100), nullable=False),
        sa.Column("model_version", sa.String(200), nullable=False),
        sa.Column("linguist", sa.String(200), nullable=False, index=True),
        sa.Column("reviewer", sa.String(200), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("gold", sa.Boolean(), nullable=False),
        sa.Column("double_blind", sa.Boolean(), nullable=False),
        sa.Column("reference_words", sa.Integer(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("substitutions", sa.Integer(), nullable=False),
        sa.Column("insertions", sa.Integer(), nullable=False),
        sa.Column("deletions", sa.Integer(), nullable=False),
        sa.Column("reference_characters", sa.Integer(), nullable=False),
        sa.Column("character_errors", sa.Integer(), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("corrected_text", sa.Text(), nullable=False),
        sa.Column("gold_accuracy", sa.Float(), nullable=True),
        sa.Column("created_at", NOW, nullable=False),
    )
    op.create_table(
        "quality_agreements",
        sa.Column("segment_id", sa.String(200), primary_key=True),
        sa.Column("linguist_a", sa.String(200), primary_key=True),
        sa.Column("linguist_b", sa.String(200), primary_key=True),
        sa.Column("language", sa.String(16), nullable=False, index=True),
        sa.Column("wer", sa.Float(), nullable=False),
        sa.Column("created_at", NOW, nullable=False),
    )
    op.create_table(
        "quality_gold",
        sa.Column("gold_id", sa.String(64), primary_key=True),
        sa.Column("segment_id", sa.String(200), nullable=False, index=True),
        sa.Column("language", sa.String(16), nullable=False, index=True),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("draft", sa.LargeBinary(), nullable=False),
        sa.Column("issued", sa.Integer(), nullable=False),
        sa.Column("created_at", NOW, nullable=False),
    )
    op.create_table(
        "quality_gold_tasks",
        sa.Column("segment_id", sa.String(200), primary_key=True),
        sa.Column("gold_id", sa.String(64), nullable=False, index=True),
        sa.Column("created_at", NOW, nullable=False),
    )
    op.create_table(
        "quality_state",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", NOW, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "quality_state",
        "quality_gold_tasks",
        "quality_gold",
        "quality_agreements",
        "quality_corrections",
        "quality_recordings",
        "quality_attempts",
    ):
        op.drop_table(table)
