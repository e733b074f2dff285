"""What a digest contains: plain frozen values that the query builds and the renderer reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True)
class Source:
    """Another outlet that carried a story (a stored duplicate of it)."""

    name: str
    url: str


@dataclass(frozen=True)
class Story:
    """A genuinely new article of the day, with its other sources collapsed into it."""

    id: int
    title: str
    url: str
    source: str
    time: datetime  # aware: published when known, else fetched
    summary: str  # raw from the feed (may hold HTML)
    text_head: str  # the first part of the extracted text, for when the summary is thin
    topics: tuple[tuple[str, float], ...]  # (topic id, score), best first
    also: tuple[Source, ...] = ()


@dataclass(frozen=True)
class FailingFeed:
    name: str
    url: str
    since: datetime
    failures: int
    last_error: str


@dataclass(frozen=True)
class DigestData:
    day: date
    zone: str  # IANA name the day was cut in
    stories: tuple[Story, ...]
    failing: tuple[FailingFeed, ...]
    generated: datetime  # the clock the digest was built at (aware)
