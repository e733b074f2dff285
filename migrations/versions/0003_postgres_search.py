"""Full-text search on PostgreSQL: a generated, weighted tsvector over title and text with a
GIN index (SQLite has its FTS5 table since 0001; nothing changes there).

Revision ID: 0003_postgres_search
Revises: 0002_dedup_index
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

from monitor.store import postgres

revision = "0003_postgres_search"
down_revision = "0002_dedup_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in postgres.FTS_DDL:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in postgres.FTS_DROP:
            op.execute(statement)
