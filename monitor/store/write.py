"""Database writes for feeds, articles and seeds: `save_*(session, values)`, no network here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy import Insert, Table, bindparam, delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from monitor.config.sections import FeedConfig
from monitor.dedup import DocRef, Verdict
from monitor.dedup.features import Features
from monitor.extract.articles import NewArticle
from monitor.extract.seeds import SeedDoc
from monitor.store import postgres
from monitor.store.dedup_index import DedupIndex
from monitor.store.models import (
    Article,
    ArticleTopic,
    Entry,
    Feed,
    FetchLog,
    SectionTopic,
    SeedDocument,
    SeedSection,
    utcnow,
)
from monitor.topics.tagger import Tagger, Tagging

_ARTICLE: Table = Article.__table__  # type: ignore[attr-defined]
_ARTICLE_TOPIC: Table = ArticleTopic.__table__  # type: ignore[attr-defined]
_ENTRY: Table = Entry.__table__  # type: ignore[attr-defined]
# Statements run per article, built once (SQLAlchemy then reuses their compiled form).
_NEW_ARTICLE = _ARTICLE.insert()
_BY_URL = select(_ARTICLE.c.id).where(_ARTICLE.c.canonical_url == bindparam("url"))
_STORY_OF = select(_ARTICLE.c.story_id).where(_ARTICLE.c.id == bindparam("id"))
_NAME_STORY = (
    update(_ARTICLE)
    .where(_ARTICLE.c.id == bindparam("article"))
    .values(story_id=bindparam("article"))
)
_DROP_TOPICS = delete(_ARTICLE_TOPIC).where(_ARTICLE_TOPIC.c.article_id == bindparam("id"))
_NEW_TOPIC = _ARTICLE_TOPIC.insert()


@lru_cache(maxsize=2)
def _new_entry(dialect: str) -> Insert:
    """INSERT ... ON CONFLICT DO NOTHING, which SQLite and PostgreSQL both speak. (The
    dialect is imported when first used: a SQLite run never loads PostgreSQL's.)"""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(_ENTRY).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(_ENTRY).on_conflict_do_nothing()


@dataclass(frozen=True)
class PageFetch:
    """How fetching an article's page went: requests made, when to try again (None: not
    again), and the last failure (None: the page arrived)."""

    attempts: int = 1
    next_at: datetime | None = None
    error: str | None = None

    def columns(self) -> dict[str, object]:
        return {
            "fetch_attempts": self.attempts,
            "next_fetch_at": self.next_at,
            "fetch_error": self.error[:1000] if self.error else None,
        }


class AlreadyStored(Exception):
    """Another process stored an article with this canonical URL first: link to it."""

    def __init__(self, article_id: int) -> None:
        super().__init__(article_id)
        self.article_id = article_id


def sync_feeds(session: Session, feeds: Sequence[FeedConfig]) -> dict[str, Feed]:
    """Make the feed table match the configuration (by name); old feeds keep their rows."""
    rows = {f.name: f for f in session.exec(select(Feed)).all()}
    for cfg in feeds:
        row = rows.get(cfg.name)
        if row is None:
            row = Feed(name=cfg.name, url=cfg.url)
            session.add(row)
            rows[cfg.name] = row
        elif row.url != cfg.url:
            # A new URL is a new feed as far as caching goes.
            row.url, row.etag, row.last_modified = cfg.url, None, None
    session.flush()
    return rows


def known_guids(session: Session, feed_id: int, guids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(guids), 500):
        chunk = list(guids[start : start + 500])
        stmt = select(Entry.guid).where(Entry.feed_id == feed_id, col(Entry.guid).in_(chunk))
        found.update(session.exec(stmt).all())
    return found


def article_by_url(session: Session, canonical: str) -> int | None:
    found = session.connection().execute(_BY_URL, {"url": canonical}).scalar()
    return int(found) if found is not None else None


def save_entry(
    session: Session, feed_id: int, guid: str, link: str | None, article_id: int | None
) -> None:
    """Remember that a feed carried this item (idempotent on feed + GUID, also when another
    process inserts the same entry at the same moment: the first one stays)."""
    values = {
        "feed_id": feed_id,
        "guid": guid,
        "link": link,
        "article_id": article_id,
        "seen_at": utcnow(),
    }
    connection = session.connection()
    connection.execute(_new_entry(connection.dialect.name), values)


def save_article(
    session: Session,
    new: NewArticle,
    index: DedupIndex,
    features: Features,
    tagging: Tagging,
    fetch: PageFetch | None = None,
) -> tuple[int, Verdict]:
    """Match, store and index one article with its tags and entry; the caller commits.
    Returns the new article's id and the dedup verdict.

    On PostgreSQL, where several workers store at once, match + insert + index run under a
    transaction-scoped lock, and an article another worker stored first (same canonical URL)
    raises AlreadyStored instead of an integrity error. SQLite runs are serialised by the
    poll lock already.

    Core statements, not ORM objects: this runs once per article on the polling thread.
    """
    connection = session.connection()
    shared = postgres.is_postgres(connection)
    if shared:
        postgres.lock_dedup(session)
        existing = article_by_url(session, new.canonical_url)
        if existing is not None:
            raise AlreadyStored(existing)
    verdict = index.match_features(features)
    values = {
        "feed_id": new.feed_id,
        "guid": new.guid,
        "canonical_url": new.canonical_url,
        "fetched": utcnow(),
        "summary": new.summary,
        **_page_columns(new, features),
        **(fetch or PageFetch(attempts=0)).columns(),
        **verdict_columns(session, verdict),
    }
    if shared:
        try:
            with session.begin_nested():  # a failed insert must not end the transaction
                article_id = _inserted_id(session, values)
        except IntegrityError:
            existing = article_by_url(session, new.canonical_url)
            if existing is None:
                raise
            raise AlreadyStored(existing) from None
    else:
        article_id = _inserted_id(session, values)
    if values["story_id"] is None:  # an original story: the cluster is named after it
        connection.execute(_NAME_STORY, {"article": article_id})
    index.add_features(
        DocRef("article", article_id), features, duplicate=verdict.kind == "same-story"
    )
    save_topics(session, article_id, tagging, new=True)
    save_entry(session, new.feed_id, new.guid, new.url, article_id)
    return article_id, verdict


def _page_columns(new: NewArticle, features: Features) -> dict[str, object]:
    """The columns an article takes from its page (or the feed when the page failed): the same
    on first storing and on completing it after a retry."""
    return {
        "url": new.url,
        "title": new.title,
        "author": new.author,
        "published": new.published,
        "site_name": new.site_name,
        "language": new.language,
        "text": new.text,
        "text_hash": features.text_hash,
        "extraction": new.extraction,
        "status": new.status,
        "error": new.error,
    }


def complete_article(
    session: Session,
    article_id: int,
    new: NewArticle,
    index: DedupIndex,
    features: Features,
    tagging: Tagging,
    fetch: PageFetch,
) -> Verdict:
    """A page that arrived on a retry: the article becomes what it would have been had the
    page arrived the first time (text, extraction, language, fingerprints and verdict, tags,
    search index), keeping its id, entries and the day it was first seen (`fetched`), so a
    digest already sent for that day is not sent again. The caller commits."""
    if postgres.is_postgres(session.connection()):
        postgres.lock_dedup(session)
    ref = DocRef("article", article_id)
    index.remove(ref)  # its summary's fingerprints: never a match for itself
    verdict = index.match_features(features)
    columns = verdict_columns(session, verdict)
    if columns["story_id"] is None:
        columns["story_id"] = article_id
    session.execute(
        update(_ARTICLE)
        .where(_ARTICLE.c.id == article_id)
        .values(**_page_columns(new, features), **fetch.columns(), **columns)
    )
    index.add_features(ref, features, duplicate=verdict.kind == "same-story")
    save_topics(session, article_id, tagging)
    return verdict


def record_page_failure(session: Session, article_id: int, fetch: PageFetch) -> None:
    """A retry of a stored article's page failed again: count it, schedule the next one."""
    session.execute(
        update(_ARTICLE)
        .where(_ARTICLE.c.id == article_id)
        .values(error=fetch.error[:1000] if fetch.error else None, **fetch.columns())
    )


def due_page_retries(
    session: Session, now: datetime, feed_ids: Sequence[int] | None, limit: int
) -> list[Article]:
    """Stored articles whose page is due for another try, oldest first."""
    stmt = (
        select(Article)
        .where(col(Article.next_fetch_at).is_not(None), col(Article.next_fetch_at) <= now)
        .order_by(col(Article.next_fetch_at))
        .limit(limit)
    )
    if feed_ids is not None:
        stmt = stmt.where(col(Article.feed_id).in_(list(feed_ids)))
    return list(session.exec(stmt).all())


def _inserted_id(session: Session, values: dict[str, object]) -> int:
    key = session.connection().execute(_NEW_ARTICLE, values).inserted_primary_key
    assert key is not None
    return int(key[0])


def verdict_columns(session: Session, verdict: Verdict) -> dict[str, object]:
    """The duplicate columns of an article with this verdict: a duplicate links to its
    original, and its story id is the cluster's (the first article's) id."""
    columns: dict[str, object] = {
        "duplicate_kind": verdict.kind,
        "duplicate_score": round(verdict.score, 4) if verdict.kind else None,
        "duplicate_of_id": None,
        "duplicate_of_section_id": None,
        "story_id": None,
    }
    if verdict.kind is None or verdict.of is None:
        return columns
    if verdict.of.kind == "section":
        columns["duplicate_of_section_id"] = verdict.of.id
    else:
        columns["duplicate_of_id"] = verdict.of.id
        story = session.connection().execute(_STORY_OF, {"id": verdict.of.id}).scalar()
        columns["story_id"] = story or verdict.of.id
    return columns


def save_topics(session: Session, article_id: int, tagging: Tagging, new: bool = False) -> None:
    """Replace an article's topics (`new`: it has none yet, nothing to delete)."""
    connection = session.connection()
    if not new:
        connection.execute(_DROP_TOPICS, {"id": article_id})
    if tagging.topics:
        connection.execute(
            _NEW_TOPIC,
            [
                {
                    "article_id": article_id,
                    "topic": topic,
                    "score": round(tagging.scores.get(topic, 0.0), 4),
                }
                for topic in tagging.topics
            ],
        )


def save_section_topics(session: Session, section_id: int, tagging: Tagging) -> None:
    session.execute(delete(SectionTopic).where(col(SectionTopic.section_id) == section_id))
    for topic in tagging.topics:
        session.add(
            SectionTopic(
                section_id=section_id, topic=topic, score=round(tagging.scores.get(topic, 0.0), 4)
            )
        )


def save_seed(session: Session, doc: SeedDoc, index: DedupIndex, tagger: Tagger) -> bool:
    """Store a seed document and its sections; False when it is already there unchanged."""
    if postgres.is_postgres(session.connection()):
        postgres.lock_dedup(session)  # the dedup index is shared with running workers
    row = session.exec(select(SeedDocument).where(SeedDocument.path == doc.key)).first()
    if row is not None and row.sha256 == doc.sha256:
        return False
    if row is None:
        row = SeedDocument(path=doc.key, sha256=doc.sha256, title=doc.title, loaded_at=utcnow())
        session.add(row)
        session.flush()
    else:
        # The file changed: its sections are replaced (articles keep pointing at ids that
        # still exist, since positions are updated in place where they match).
        row.sha256, row.title, row.loaded_at = doc.sha256, doc.title, utcnow()
    assert row.id is not None
    existing = {
        s.position: s
        for s in session.exec(select(SeedSection).where(SeedSection.document_id == row.id))
    }
    for position, section in enumerate(doc.sections):
        sec = existing.pop(position, None)
        if sec is None:
            sec = SeedSection(document_id=row.id, position=position)
            session.add(sec)
        else:
            assert sec.id is not None
            index.remove(DocRef("section", sec.id))
        sec.title, sec.text = section.title, section.text
        session.flush()
        assert sec.id is not None
        index.add(DocRef("section", sec.id), sec.title, sec.text, None)
        save_section_topics(session, sec.id, tagger.tag(sec.title, sec.text))
    for stale in existing.values():
        assert stale.id is not None
        index.remove(DocRef("section", stale.id))
        session.execute(delete(SectionTopic).where(col(SectionTopic.section_id) == stale.id))
        session.delete(stale)
    return True


def log_fetch(
    session: Session,
    feed_id: int | None,
    url: str,
    status: int | None,
    size: int,
    seconds: float,
    error: str | None,
) -> None:
    session.add(
        FetchLog(
            feed_id=feed_id,
            url=url[:2000],
            at=utcnow(),
            status=status,
            bytes=size,
            ms=int(seconds * 1000),
            error=error,
        )
    )


def prune_fetch_log(session: Session, before: datetime) -> None:
    session.execute(delete(FetchLog).where(col(FetchLog.at) < before))
