"""Read-only queries behind `status`, `search` and `export` (values out, no printing)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlmodel import Session, col, func, select

from monitor.store import postgres, sqlite
from monitor.store.models import (
    Article,
    ArticleTopic,
    Digest,
    Feed,
    SeedDocument,
    SeedSection,
)


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _aware(value: Any) -> datetime | None:
    """An aggregate bypasses the column type: a naive value from SQLite is UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def count_articles(session: Session) -> tuple[int, int]:
    total = session.exec(select(func.count()).select_from(Article)).one()
    dupes = session.exec(
        select(func.count()).select_from(Article).where(col(Article.duplicate_kind).is_not(None))
    ).one()
    return int(total), int(dupes)


def feed_state(feed: Feed) -> str:
    if feed.last_checked is None:
        return "new"
    return "failing" if feed.consecutive_failures else "ok"


def status_report(session: Session, configured: Sequence[str]) -> dict[str, Any]:
    """The `status --json` document (SPEC.md): counts, last digest, per-feed health."""
    articles, duplicates = count_articles(session)
    seeds = session.exec(select(func.count()).select_from(SeedDocument)).one()
    sections = session.exec(select(func.count()).select_from(SeedSection)).one()
    digest = session.exec(select(Digest).order_by(col(Digest.day).desc())).first()
    feeds = []
    order = {name: i for i, name in enumerate(configured)}
    for feed in sorted(
        session.exec(select(Feed)), key=lambda f: (order.get(f.name, 1 << 30), f.name)
    ):
        feeds.append(
            {
                "name": feed.name,
                "url": feed.url,
                "state": feed_state(feed),
                "configured": feed.name in order,
                "entries": feed.entries,
                "last_success": iso(feed.last_success),
                "last_error": feed.last_error,
                "last_error_at": iso(feed.last_error_at),
                "failing_since": iso(feed.failing_since),
                "consecutive_failures": feed.consecutive_failures,
                "problem": feed.problem,
                "next_check": iso(feed.next_check),
            }
        )
    retries = session.exec(
        select(func.count(), func.min(Article.next_fetch_at)).where(
            col(Article.next_fetch_at).is_not(None)
        )
    ).one()
    return {
        "articles": articles,
        "duplicates": duplicates,
        # pages that failed for a passing reason and will be fetched again, and when first
        "pages_awaiting_retry": int(retries[0]),
        "next_page_retry": iso(_aware(retries[1])),
        "seeds": int(seeds),
        "seed_sections": int(sections),
        "last_digest": None
        if digest is None
        else {
            "date": digest.day,
            "state": digest.state,
            "attempts": digest.attempts,
            "sent_at": iso(digest.sent_at),
            "last_error": digest.last_error,
        },
        "feeds": feeds,
    }


def topics_of(session: Session, ids: Sequence[int]) -> dict[int, list[str]]:
    found: dict[int, list[tuple[float, str]]] = defaultdict(list)
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        for article_id, topic, score in session.exec(
            select(ArticleTopic.article_id, ArticleTopic.topic, ArticleTopic.score).where(
                col(ArticleTopic.article_id).in_(chunk)
            )
        ):
            found[article_id].append((score, topic))
    return {k: [t for _, t in sorted(v, reverse=True)] for k, v in found.items()}


def describe_ref(session: Session, kind: str, ref_id: int) -> dict[str, Any]:
    """`{"id", "title", "seed", "section"}` for an original (a seed section or an article)."""
    if kind == "section":
        sec = session.get(SeedSection, ref_id)
        doc = session.get(SeedDocument, sec.document_id) if sec else None
        return {
            "id": ref_id,
            "title": sec.title if sec else None,
            "seed": True,
            "section": f"{doc.path}#{sec.position}" if sec and doc else None,
        }
    orig = session.get(Article, ref_id)
    return {"id": ref_id, "title": orig.title if orig else None, "seed": False, "section": None}


def duplicate_info(session: Session, article: Article) -> dict[str, Any] | None:
    """The `duplicate` object shared by `inspect` and `export`."""
    if not article.duplicate_kind:
        return None
    of = None
    if article.duplicate_of_section_id is not None:
        of = describe_ref(session, "section", article.duplicate_of_section_id)
    elif article.duplicate_of_id is not None:
        of = describe_ref(session, "article", article.duplicate_of_id)
    return {"kind": article.duplicate_kind, "score": article.duplicate_score, "of": of}


def search_articles(
    session: Session, query: str, topic: str | None, since: datetime | None, limit: int = 50
) -> list[dict[str, Any]]:
    """Full-text search with optional filters: SQLite FTS5 (bm25) or PostgreSQL tsvector
    (ts_rank_cd), the title weighted over the body on both."""
    if postgres.is_postgres(session.connection()):
        q, sql = query.strip(), postgres.SEARCH_SQL
    else:
        q, sql = sqlite.fts_query(query), sqlite.SEARCH_SQL + " ORDER BY rank LIMIT :n"
    if not q:
        return []
    hits = session.execute(text(sql), {"q": q, "n": limit * 4 if (topic or since) else limit}).all()
    ids = [int(h.id) for h in hits]
    snippets = {int(h.id): h.snippet for h in hits}
    rows = {a.id: a for a in session.exec(select(Article).where(col(Article.id).in_(ids)))}
    topics = topics_of(session, ids)
    results = []
    for article_id in ids:
        art = rows.get(article_id)
        if art is None:
            continue
        if topic and topic not in topics.get(article_id, []):
            continue
        when = art.published or art.fetched
        if since and (when is None or when < since):
            continue
        results.append(
            {
                "id": art.id,
                "title": art.title,
                "url": art.url,
                "published": iso(art.published),
                "fetched": iso(art.fetched),
                "topics": topics.get(article_id, []),
                "duplicate": art.duplicate_kind,
                "snippet": snippets[article_id],
            }
        )
        if len(results) >= limit:
            break
    return results


def export_rows(
    session: Session, since: datetime | None, batch: int = 500
) -> Iterator[dict[str, Any]]:
    """Every stored article as one record (SPEC.md's export fields), streamed in batches."""
    feeds = {f.id: f.name for f in session.exec(select(Feed))}
    last = 0
    while True:
        stmt = select(Article).where(col(Article.id) > last).order_by(col(Article.id)).limit(batch)
        if since is not None:
            stmt = stmt.where(col(Article.fetched) >= since)
        rows = session.exec(stmt).all()
        if not rows:
            return
        topics = topics_of(session, [a.id for a in rows if a.id is not None])
        for art in rows:
            assert art.id is not None
            yield {
                "id": art.id,
                "url": art.url,
                "canonical_url": art.canonical_url,
                "feed": feeds.get(art.feed_id),
                "title": art.title,
                "published": iso(art.published),
                "fetched": iso(art.fetched),
                "text": art.text,
                "language": art.language,
                "topics": topics.get(art.id, []),
                "duplicate": duplicate_info(session, art),
            }
        last = rows[-1].id or last
