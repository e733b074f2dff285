"""Dedup index: fingerprints of every indexed article / seed section (with its lead
embedding), rare-term postings, MinHash LSH band keys and event-term document frequencies.
No foreign keys: the index can be dropped and rebuilt.

Revision ID: 0002_dedup_index
Revises: 0001_initial
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_dedup_index"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dedup_doc",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ref_kind", sa.String(length=16), nullable=False),
        sa.Column("ref_id", sa.Integer(), nullable=False),
        sa.Column("published", sa.DateTime(), nullable=True),
        sa.Column("text_hash", sa.String(length=64), nullable=False),
        sa.Column("shingle_count", sa.Integer(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("features", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_dedup_doc_ref", "dedup_doc", ["ref_kind", "ref_id"], unique=True)
    op.create_index("ix_dedup_doc_text_hash", "dedup_doc", ["text_hash"])
    op.create_table(
        "dedup_term",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("term", sa.String(length=200), nullable=False),
        sa.Column("doc_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_dedup_term_term_doc", "dedup_term", ["term", "doc_id"])
    op.create_index("ix_dedup_term_doc_id", "dedup_term", ["doc_id"])
    op.create_table(
        "dedup_band",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("band_key", sa.BigInteger(), nullable=False),
        sa.Column("doc_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_dedup_band_key_doc", "dedup_band", ["band_key", "doc_id"])
    op.create_index("ix_dedup_band_doc_id", "dedup_band", ["doc_id"])
    op.create_table(
        "dedup_df",
        sa.Column("term", sa.String(length=200), nullable=False),
        sa.Column("df", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("term"),
    )


def downgrade() -> None:
    op.drop_table("dedup_df")
    op.drop_table("dedup_band")
    op.drop_table("dedup_term")
    op.drop_table("dedup_doc")
