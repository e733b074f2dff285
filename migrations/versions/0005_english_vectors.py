"""English vectors: `dedup_doc.embedding_en`, the English embedder's vectors of an English
document (`[dedup] english_embedder`), computed when a pair first needs them.

Revision ID: 0005_english_vectors
Revises: 0004_page_retries
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_english_vectors"
down_revision = "0004_page_retries"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("dedup_doc", sa.Column("embedding_en", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dedup_doc") as batch:
        batch.drop_column("embedding_en")
