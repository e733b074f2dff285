"""Parse feed bytes (RSS 0.9x/1.0/2.0, Atom) into plain values. feedparser never sees a URL."""

from __future__ import annotations

import calendar
import hashlib
import html
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from monitor.errors import NotAFeedError
from monitor.net.urls import is_http_url

_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")
_PERIODS = {
    "hourly": 60.0,
    "daily": 1440.0,
    "weekly": 10080.0,
    "monthly": 43200.0,
    "yearly": 525600.0,
}


@dataclass(frozen=True)
class FeedEntry:
    guid: str
    link: str | None
    title: str
    summary: str  # plain text
    content_html: str  # the richest HTML the feed carries (content:encoded, atom content)
    author: str | None
    published: datetime | None


@dataclass(frozen=True)
class ParsedFeed:
    title: str | None
    site_url: str | None
    entries: tuple[FeedEntry, ...]
    problem: str | None  # set when feedparser had to recover from an ill-formed feed
    ttl_minutes: float | None  # the least time between polls the feed asks for


def plain_text(value: str | None) -> str:
    """Feed fields as single-spaced plain text (tags dropped, entities decoded)."""
    if not value:
        return ""
    return _SPACE.sub(" ", html.unescape(_TAG.sub(" ", value))).strip()


def _when(entry: Mapping[str, object]) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if isinstance(value, time.struct_time):
            try:
                return datetime.fromtimestamp(calendar.timegm(value), UTC)
            except (OverflowError, ValueError, OSError):
                continue
    return None


def _guid(entry: Mapping[str, object], link: str | None, title: str, summary: str) -> str:
    guid = entry.get("id")
    if isinstance(guid, str) and guid.strip():
        return guid.strip()[:2000]
    if link:
        return link
    # No id and no link: a stable hash of what the entry says keeps reruns idempotent.
    basis = "\x1f".join((title, summary, str(entry.get("published", ""))))
    return "sha1:" + hashlib.sha1(basis.encode("utf-8", "replace")).hexdigest()


def _content(entry: Mapping[str, object]) -> str:
    content = entry.get("content")
    if isinstance(content, list) and content:
        values = [c.get("value", "") for c in content if isinstance(c, Mapping)]
        best = max(values, key=len, default="")
        if isinstance(best, str):
            return best
    summary = entry.get("summary")
    return summary if isinstance(summary, str) else ""


def _ttl(feed: Mapping[str, object]) -> float | None:
    ttl = feed.get("ttl")
    minutes: list[float] = []
    if isinstance(ttl, str) and ttl.strip().isdigit():
        minutes.append(float(ttl.strip()))
    period = feed.get("sy_updateperiod")
    if isinstance(period, str) and period.strip().lower() in _PERIODS:
        freq = feed.get("sy_updatefrequency")
        n = int(freq) if isinstance(freq, str) and freq.strip().isdigit() and int(freq) > 0 else 1
        minutes.append(_PERIODS[period.strip().lower()] / n)
    return max(minutes) if minutes else None


def parse_feed(content: bytes, headers: Mapping[str, str] | None = None) -> ParsedFeed:
    """Parse a fetched feed body; raise NotAFeedError for anything that is not a feed."""
    if not content.strip():
        raise NotAFeedError("empty response: not a feed")
    # Imported here: feeds are parsed in the extraction processes (whose fork server
    # preloads feedparser), so the polling process does not import it at start-up.
    import feedparser

    parsed = feedparser.parse(
        content,
        response_headers=dict(headers or {}),
        sanitize_html=True,
        resolve_relative_uris=True,
    )
    version = parsed.get("version", "")
    entries_raw = parsed.get("entries", [])
    if not version and not entries_raw:
        reason = parsed.get("bozo_exception")
        what = "an HTML page" if b"<html" in content[:2048].lower() else "not a feed"
        raise NotAFeedError(f"{what}: no RSS/Atom/RDF root" + (f" ({reason})" if reason else ""))
    if not entries_raw:
        # feedparser accepts a bare channel, but a feed URL that yields nothing to read is
        # almost always a moved or broken feed: record it, so the user sees it in `status`.
        raise NotAFeedError(f"not a feed: no entries ({version or 'unknown'} document)")
    problem = None
    if parsed.get("bozo"):
        exc = parsed.get("bozo_exception")
        problem = f"ill-formed feed, recovered: {type(exc).__name__}: {exc}"[:500]
    entries = []
    for raw in entries_raw:
        link = raw.get("link")
        link = link.strip() if isinstance(link, str) and is_http_url(link.strip()) else None
        title = plain_text(raw.get("title"))[:1000]
        summary = plain_text(raw.get("summary"))
        entries.append(
            FeedEntry(
                guid=_guid(raw, link, title, summary),
                link=link,
                title=title,
                summary=summary,
                content_html=_content(raw),
                author=plain_text(raw.get("author")) or None,
                published=_when(raw),
            )
        )
    feed = parsed.get("feed", {})
    site = feed.get("link")
    return ParsedFeed(
        title=plain_text(feed.get("title")) or None,
        site_url=site if isinstance(site, str) and is_http_url(site) else None,
        entries=tuple(entries),
        problem=problem,
        ttl_minutes=_ttl(feed),
    )
