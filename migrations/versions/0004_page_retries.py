"""Page retries: how often an article's page was requested, when it is tried again, and why
the last try failed (`article.fetch_attempts`, `next_fetch_at`, `fetch_error`).

Revision ID: 0004_page_retries
Revises: 0003_postgres_search
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from monitor.store.models import UTCDateTime

revision = "0004_page_retries"
down_revision = "0003_postgres_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "article", sa.Column("fetch_attempts", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column("article", sa.Column("next_fetch_at", UTCDateTime(), nullable=True))
    op.add_column("article", sa.Column("fetch_error", sa.Text(), nullable=True))
    op.create_index("ix_article_next_fetch_at", "article", ["next_fetch_at"])
    # Articles stored before: their page was requested once unless the feed had no link.
    op.execute("UPDATE article SET fetch_attempts = 1 WHERE extraction = 'trafilatura'")


def downgrade() -> None:
    op.drop_index("ix_article_next_fetch_at", table_name="article")
    for column in ("fetch_error", "next_fetch_at", "fetch_attempts"):
        op.drop_column("article", column)
