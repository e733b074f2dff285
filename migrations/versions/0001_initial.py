"""Initial schema: feeds, entries, articles, seeds, topics, fetch log, digests; FTS on SQLite.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from monitor.store import sqlite

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "digest",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.String(), nullable=False),
        sa.Column("message_id", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("articles", sa.Integer(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("day"),
    )
    op.create_table(
        "feed",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("url", sa.String(), nullable=False),
        sa.Column("title", sa.String(), nullable=True),
        sa.Column("site_url", sa.String(), nullable=True),
        sa.Column("etag", sa.String(), nullable=True),
        sa.Column("last_modified", sa.String(), nullable=True),
        sa.Column("last_checked", sa.DateTime(), nullable=True),
        sa.Column("last_success", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(), nullable=True),
        sa.Column("failing_since", sa.DateTime(), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("failure_score", sa.Float(), nullable=False),
        sa.Column("problem", sa.String(), nullable=True),
        sa.Column("interval_minutes", sa.Float(), nullable=True),
        sa.Column("next_check", sa.DateTime(), nullable=True),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_index(op.f("ix_feed_next_check"), "feed", ["next_check"], unique=False)
    op.create_table(
        "seed_document",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("sha256", sa.String(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("loaded_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("path"),
    )
    op.create_table(
        "fetch_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feed_id", sa.Integer(), nullable=True),
        sa.Column("url", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=True),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.Column("ms", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["feed_id"],
            ["feed.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_fetch_log_at"), "fetch_log", ["at"], unique=False)
    op.create_index(op.f("ix_fetch_log_feed_id"), "fetch_log", ["feed_id"], unique=False)
    op.create_table(
        "seed_section",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("text", sa.Text(), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["seed_document.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("document_id", "position"),
    )
    op.create_index(
        op.f("ix_seed_section_document_id"), "seed_section", ["document_id"], unique=False
    )
    op.create_table(
        "article",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feed_id", sa.Integer(), nullable=True),
        sa.Column("guid", sa.String(), nullable=True),
        sa.Column("url", sa.String(), nullable=False),
        sa.Column("canonical_url", sa.String(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("author", sa.String(), nullable=True),
        sa.Column("published", sa.DateTime(), nullable=True),
        sa.Column("fetched", sa.DateTime(), nullable=True),
        sa.Column("site_name", sa.String(), nullable=True),
        sa.Column("language", sa.String(), nullable=True),
        sa.Column("summary", sa.Text(), server_default="", nullable=False),
        sa.Column("text", sa.Text(), server_default="", nullable=False),
        sa.Column("text_hash", sa.String(), nullable=True),
        sa.Column("extraction", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column("duplicate_kind", sa.String(), nullable=True),
        sa.Column("duplicate_score", sa.Float(), nullable=True),
        sa.Column("duplicate_of_id", sa.Integer(), nullable=True),
        sa.Column("duplicate_of_section_id", sa.Integer(), nullable=True),
        sa.Column("story_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["duplicate_of_id"],
            ["article.id"],
        ),
        sa.ForeignKeyConstraint(
            ["duplicate_of_section_id"],
            ["seed_section.id"],
        ),
        sa.ForeignKeyConstraint(
            ["feed_id"],
            ["feed.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("canonical_url"),
    )
    op.create_index(
        op.f("ix_article_duplicate_of_id"), "article", ["duplicate_of_id"], unique=False
    )
    op.create_index(op.f("ix_article_feed_id"), "article", ["feed_id"], unique=False)
    op.create_index("ix_article_fetched", "article", ["fetched"], unique=False)
    op.create_index("ix_article_published", "article", ["published"], unique=False)
    op.create_index(op.f("ix_article_story_id"), "article", ["story_id"], unique=False)
    op.create_index(op.f("ix_article_text_hash"), "article", ["text_hash"], unique=False)
    op.create_table(
        "section_topic",
        sa.Column("section_id", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["section_id"],
            ["seed_section.id"],
        ),
        sa.PrimaryKeyConstraint("section_id", "topic"),
    )
    op.create_table(
        "article_topic",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["article.id"],
        ),
        sa.PrimaryKeyConstraint("article_id", "topic"),
    )
    op.create_index(op.f("ix_article_topic_topic"), "article_topic", ["topic"], unique=False)
    op.create_table(
        "entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feed_id", sa.Integer(), nullable=False),
        sa.Column("guid", sa.String(), nullable=False),
        sa.Column("link", sa.String(), nullable=True),
        sa.Column("article_id", sa.Integer(), nullable=True),
        sa.Column("seen_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["article.id"],
        ),
        sa.ForeignKeyConstraint(
            ["feed_id"],
            ["feed.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("feed_id", "guid"),
    )
    op.create_index(op.f("ix_entry_article_id"), "entry", ["article_id"], unique=False)
    op.create_index(op.f("ix_entry_feed_id"), "entry", ["feed_id"], unique=False)
    if op.get_bind().dialect.name == "sqlite":
        for statement in sqlite.FTS_DDL:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in sqlite.FTS_DROP:
            op.execute(statement)
    for table in (
        "digest",
        "fetch_log",
        "section_topic",
        "article_topic",
        "seed_section",
        "entry",
        "article",
        "seed_document",
        "feed",
    ):
        op.drop_table(table)
