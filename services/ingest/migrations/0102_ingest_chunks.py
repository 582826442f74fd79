"""Ingest: one row per chunk instead of two JSON maps rewritten on every chunk.

A 4-hour stream in 0.5 s chunks is 28,800 chunks; keeping every digest and blob URI in the
stream's row made each chunk rewrite megabytes. Existing streams are carried over: their digests
and URIs become rows, and the assembly keeps only the chunks received past the contiguous run.

Revision ID: 0102_ingest_chunks
Revises: 0101_ingest_streams
Create Date: 2026-11-23
"""

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0102_ingest_chunks"
down_revision = "0101_ingest_streams"
branch_labels = None
depends_on = None


def upgrade() -> None:
    chunks = op.create_table(
        "ingest_chunks",
        sa.Column("stream_id", sa.String(200), primary_key=True),
        sa.Column("sequence", sa.Integer(), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    bind = op.get_bind()
    streams = bind.execute(sa.text("SELECT stream_id, assembly, chunk_uris FROM ingest_streams")).fetchall()
    now = datetime.now(UTC)
    for stream_id, assembly, uris in streams:
        assembly = json.loads(assembly) if isinstance(assembly, str) else dict(assembly or {})
        uris = json.loads(uris) if isinstance(uris, str) else dict(uris or {})
        digests = {int(k): v for k, v in assembly.pop("digests", {}).items()}
        rows = [
            {
                "stream_id": stream_id,
                "sequence": seq,
                "sha256": digest,
                "uri": uris.get(str(seq), ""),
                "received_at": now,
            }
            for seq, digest in digests.items()
        ]
        if rows:
            op.bulk_insert(chunks, rows)
        next_to_emit = int(assembly.get("next_to_emit", 0))
        assembly["pending"] = sorted(s for s in digests if s >= next_to_emit)
        assembly["highest"] = max(digests, default=-1)
        bind.execute(
            sa.text("UPDATE ingest_streams SET assembly = :a WHERE stream_id = :s"),
            {"a": json.dumps(assembly), "s": stream_id},
        )
    with op.batch_alter_table("ingest_streams") as batch:
        batch.drop_column("chunk_uris")


def downgrade() -> None:
    with op.batch_alter_table("ingest_streams") as batch:
        batch.add_column(sa.Column("chunk_uris", sa.JSON(), nullable=False, server_default="{}"))
    op.drop_table("ingest_chunks")
