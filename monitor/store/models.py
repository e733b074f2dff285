"""The database schema (SQLModel tables). Alembic migrations create it; nothing here connects."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, Index, Integer, Text, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC, returns aware datetimes: SQLite has no time zones, PostgreSQL has."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _ts(index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=True, index=index))


def _text() -> Any:
    return Field(default="", sa_column=Column(Text, nullable=False, server_default=""))


class Feed(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    url: str
    title: str | None = None
    site_url: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    last_checked: datetime | None = _ts()
    last_success: datetime | None = _ts()
    last_error: str | None = None
    last_error_at: datetime | None = _ts()
    failing_since: datetime | None = _ts()
    consecutive_failures: int = 0
    failure_score: float = 0.0
    problem: str | None = None  # the feed parsed, but with a problem (ill-formed, recovered)
    interval_minutes: float | None = None  # the adaptive interval last computed
    next_check: datetime | None = _ts(index=True)
    entries: int = 0  # entries seen in total


class Entry(SQLModel, table=True):
    """One feed item as seen in one feed; several entries may lead to one article."""

    __table_args__ = (UniqueConstraint("feed_id", "guid"),)
    id: int | None = Field(default=None, primary_key=True)
    feed_id: int = Field(foreign_key="feed.id", index=True)
    guid: str
    link: str | None = None
    article_id: int | None = Field(default=None, foreign_key="article.id", index=True)
    seen_at: datetime | None = _ts()


class Article(SQLModel, table=True):
    __table_args__ = (
        Index("ix_article_fetched", "fetched"),
        Index("ix_article_published", "published"),
    )
    id: int | None = Field(default=None, primary_key=True)
    feed_id: int | None = Field(default=None, foreign_key="feed.id", index=True)
    guid: str | None = None
    url: str
    canonical_url: str = Field(unique=True)
    title: str = ""
    author: str | None = None
    published: datetime | None = _ts()
    fetched: datetime | None = _ts()
    site_name: str | None = None
    language: str | None = None
    summary: str = _text()
    text: str = _text()
    text_hash: str | None = Field(default=None, index=True)
    extraction: str = "trafilatura"  # trafilatura | feed (the feed's own content was kept)
    status: str = "ok"  # ok | summary-only | fetch-failed
    error: str | None = None  # why the page could not be used
    fetch_attempts: int = Field(
        default=0, sa_column=Column(Integer, nullable=False, server_default="0")
    )  # requests made for the page (0: the feed's own content, no page)
    next_fetch_at: datetime | None = _ts(index=True)  # when the page is tried again, or NULL
    fetch_error: str | None = None  # the last failure fetching the page, NULL when none
    duplicate_kind: str | None = None  # exact | near | same-story
    duplicate_score: float | None = None
    duplicate_of_id: int | None = Field(default=None, foreign_key="article.id", index=True)
    duplicate_of_section_id: int | None = Field(default=None, foreign_key="seed_section.id")
    story_id: int | None = Field(default=None, index=True)  # the cluster: the original's id


class SeedDocument(SQLModel, table=True):
    __tablename__ = "seed_document"
    id: int | None = Field(default=None, primary_key=True)
    path: str = Field(unique=True)  # relative to the seeds folder, or jsonl path#id
    sha256: str
    title: str = ""
    loaded_at: datetime | None = _ts()


class SeedSection(SQLModel, table=True):
    __tablename__ = "seed_section"
    __table_args__ = (UniqueConstraint("document_id", "position"),)
    id: int | None = Field(default=None, primary_key=True)
    document_id: int = Field(foreign_key="seed_document.id", index=True)
    position: int = 0
    title: str = ""
    text: str = _text()


class ArticleTopic(SQLModel, table=True):
    __tablename__ = "article_topic"
    article_id: int = Field(foreign_key="article.id", primary_key=True)
    topic: str = Field(primary_key=True, index=True)
    score: float


class SectionTopic(SQLModel, table=True):
    __tablename__ = "section_topic"
    section_id: int = Field(foreign_key="seed_section.id", primary_key=True)
    topic: str = Field(primary_key=True)
    score: float


class FetchLog(SQLModel, table=True):
    __tablename__ = "fetch_log"
    id: int | None = Field(default=None, primary_key=True)
    feed_id: int | None = Field(default=None, foreign_key="feed.id", index=True)
    url: str
    at: datetime | None = _ts(index=True)
    status: int | None = None  # HTTP status, None when no response
    bytes: int = 0
    ms: int = 0
    error: str | None = None


class Digest(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    day: str = Field(unique=True)  # YYYY-MM-DD in the digest time zone
    message_id: str
    state: str = "pending"  # pending | sending | sent | failed
    attempts: int = 0
    articles: int = 0
    created: datetime | None = _ts()
    sent_at: datetime | None = _ts()
    last_error: str | None = None
