"""Reads one day of the database into a `DigestData`: the day's originals, their other sources,
their topics and the feeds that keep failing — in three set-based queries, never one per article.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlmodel import Session, col

from monitor.config.sections import DigestSettings
from monitor.digest.clean import host_of, single_line
from monitor.digest.content import DigestData, FailingFeed, Source, Story
from monitor.store.models import Article, ArticleTopic, Feed

TEXT_HEAD = 1500  # characters of article text read for an excerpt; the full text can be huge
MAX_CHAIN = 20  # a duplicate of a duplicate of ... resolved this deep at most


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants the local day starts and ends at (23 or 25 hours on DST changes)."""
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def default_day(now: datetime, zone: ZoneInfo) -> date:
    """Yesterday in the zone: the last complete day, so a story is never cut off by sending."""
    return now.astimezone(zone).date() - timedelta(days=1)


@dataclass
class _Row:
    id: int
    title: str
    url: str
    source: str
    time: datetime
    fetched: datetime
    summary: str
    text_head: str
    duplicate_kind: str | None
    duplicate_of_id: int | None
    story_id: int | None


def build_digest(
    session: Session,
    day: date,
    zone: ZoneInfo,
    settings: DigestSettings,
    now: datetime | None = None,
) -> DigestData:
    """Everything the digest of `day` (local to `zone`) shows, read as of `now`."""
    now = now or datetime.now(UTC)
    start, end = day_bounds(day, zone)
    rows = _day_articles(session, start, end)
    originals = {r.id: r for r in rows if r.duplicate_kind is None}
    topics = _topics(session, start, end)
    if not settings.include_untagged:  # off-topic news would crowd out the topics
        originals = {i: r for i, r in originals.items() if i in topics}
    also = _other_sources(rows, originals)
    stories = tuple(
        Story(
            id=r.id,
            title=r.title,
            url=r.url,
            source=r.source,
            time=r.time,
            summary=r.summary,
            text_head=r.text_head,
            topics=tuple(sorted(topics.get(r.id, ()), key=lambda t: (-t[1], t[0]))),
            also=tuple(also.get(r.id, ())),
        )
        for r in sorted(originals.values(), key=lambda r: (r.fetched, r.id))
    )
    failing = _failing_feeds(session, now - timedelta(hours=settings.failing_feed_hours))
    return DigestData(day, zone.key, stories, failing, now)


def _day_articles(session: Session, start: datetime, end: datetime) -> list[_Row]:
    """All articles fetched in [start, end), originals and duplicates alike.

    A duplicate is always stored after its original, so the duplicates of the day's originals
    are all in this range; duplicates of older stories (or of the seed corpus) are read too but
    have no original here, and so appear nowhere.
    """
    query = (
        select(
            col(Article.id),
            col(Article.title),
            col(Article.url),
            col(Article.site_name),
            col(Article.published),
            col(Article.fetched),
            col(Article.summary),
            func.substr(Article.text, 1, TEXT_HEAD),
            col(Article.duplicate_kind),
            col(Article.duplicate_of_id),
            col(Article.story_id),
            col(Feed.title),
            col(Feed.name),
        )
        .outerjoin(Feed, col(Feed.id) == col(Article.feed_id))
        .where(col(Article.fetched) >= start, col(Article.fetched) < end)
    )
    rows: list[_Row] = []
    for (
        aid,
        title,
        url,
        site,
        published,
        fetched,
        summary,
        head,
        kind,
        dup_of,
        story,
        feed_title,
        feed_name,
    ) in session.execute(query):
        source = site or feed_title or feed_name or host_of(url) or "unknown source"
        rows.append(
            _Row(
                aid,
                title or "",
                url or "",
                single_line(source, 80),
                published or fetched,
                fetched,
                summary or "",
                head or "",
                kind,
                dup_of,
                story,
            )
        )
    return rows


def _other_sources(rows: list[_Row], originals: dict[int, _Row]) -> dict[int, list[Source]]:
    """Original id -> the other outlets that carried it, in the order they were fetched."""
    by_id = {r.id: r for r in rows}
    also: dict[int, list[Source]] = defaultdict(list)
    seen: dict[int, set[str]] = defaultdict(set)
    for row in sorted(rows, key=lambda r: (r.fetched, r.id)):
        if row.duplicate_kind is None:
            continue
        root = _root(row, by_id, originals)
        if root is None:
            continue
        names = seen[root]
        # The same outlet twice (an updated page, two of its feeds) is not "also reported by".
        if row.source in names or row.source == originals[root].source:
            continue
        names.add(row.source)
        also[root].append(Source(row.source, row.url))
    return also


def _root(row: _Row, by_id: dict[int, _Row], originals: dict[int, _Row]) -> int | None:
    if row.story_id in originals and row.story_id != row.id:
        return row.story_id
    current: _Row | None = row
    for _ in range(MAX_CHAIN):
        if current is None or current.duplicate_of_id is None:
            return None
        if current.duplicate_of_id in originals:
            return current.duplicate_of_id
        current = by_id.get(current.duplicate_of_id)
    return None


def _topics(session: Session, start: datetime, end: datetime) -> dict[int, list[tuple[str, float]]]:
    query = (
        select(col(ArticleTopic.article_id), col(ArticleTopic.topic), col(ArticleTopic.score))
        .join(Article, col(Article.id) == col(ArticleTopic.article_id))
        .where(
            col(Article.fetched) >= start,
            col(Article.fetched) < end,
            col(Article.duplicate_kind).is_(None),
        )
    )
    topics: dict[int, list[tuple[str, float]]] = defaultdict(list)
    for article_id, topic, score in session.execute(query):
        topics[article_id].append((topic, float(score)))
    return topics


def _failing_feeds(session: Session, cutoff: datetime) -> tuple[FailingFeed, ...]:
    query = (
        select(Feed)
        .where(col(Feed.failing_since).is_not(None), col(Feed.failing_since) <= cutoff)
        .order_by(col(Feed.failing_since), col(Feed.name))
    )
    return tuple(
        FailingFeed(
            name=single_line(feed.name, 80),
            url=feed.url,
            since=feed.failing_since,
            failures=feed.consecutive_failures,
            last_error=single_line(feed.last_error, 200),
        )
        for feed in session.scalars(query)
        if feed.failing_since is not None
    )
