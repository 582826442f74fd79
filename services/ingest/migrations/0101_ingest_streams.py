"""Ingest: one row per stream (assembly, segmenter state, counters).

Revision ID: 0101_ingest_streams
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0101_ingest_streams"
down_revision = None
branch_labels = ("ingest",)
depends_on = "0001_plumbing"


def upgrade() -> None:
    op.create_table(
        "ingest_streams",
        sa.Column("stream_id", sa.String(200), primary_key=True),
        sa.Column("recording_id", sa.String(200), nullable=False, index=True),
        sa.Column("trace_id", sa.String(200), nullable=False),
        sa.Column("context", sa.LargeBinary(), nullable=False),
        sa.Column("encoding", sa.Integer(), nullable=False),
        sa.Column("sample_rate_hz", sa.Integer(), nullable=False),
        sa.Column("channels", sa.Integer(), nullable=False),
        sa.Column("mime_type", sa.String(100), nullable=False),
        sa.Column("state", sa.String(32), nullable=False, index=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("assembly", sa.JSON(), nullable=False),
        sa.Column("chunk_uris", sa.JSON(), nullable=False),
        sa.Column("segmenter_state", sa.LargeBinary(), nullable=True),
        sa.Column("segmenter_next", sa.Integer(), nullable=False),
        sa.Column("chunks_received", sa.Integer(), nullable=False),
        sa.Column("segments_published", sa.Integer(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("original_uri", sa.Text(), nullable=False),
        sa.Column("original_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ingest_streams")
