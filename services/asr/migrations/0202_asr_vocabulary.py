"""ASR: the newest approved vocabulary per domain and language (hotwords).

Revision ID: 0202_asr_vocabulary
Revises: 0201_asr_recordings
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0202_asr_vocabulary"
down_revision = "0201_asr_recordings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "asr_vocabulary",
        sa.Column("domain", sa.String(200), primary_key=True),
        sa.Column("language", sa.String(16), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("terms", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("asr_vocabulary")
