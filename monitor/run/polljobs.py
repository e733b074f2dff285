"""The units of work of a polling cycle: a feed to fetch, a page to fetch, the counts."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from monitor.feeds.parse import FeedEntry, ParsedFeed, parse_feed
from monitor.net.fetch import FEED_ACCEPT, Fetcher, Response


@dataclass
class PollStats:
    feeds: int = 0
    failed: int = 0
    not_modified: int = 0
    new_entries: int = 0
    articles: int = 0
    duplicates: int = 0


@dataclass
class FeedJob:
    id: int
    name: str
    url: str
    etag: str | None
    last_modified: str | None
    allow_private: bool
    interval: float | None
    pending: int = 0
    response: Response | None = None
    parsed: ParsedFeed | None = None


@dataclass
class PageJob:
    feed: FeedJob
    entry: FeedEntry
    url: str
    canonical: str
    waiting: list[tuple[FeedJob, FeedEntry]] = field(default_factory=list)


Reporter = Callable[[str, dict[str, Any]], None]


def fetch_feed(
    fetcher: Fetcher, job: FeedJob, processes: Executor | None
) -> tuple[Response, ParsedFeed | None]:
    """Fetch a feed on a fetch thread; parse it on a worker process when there are some
    (parsing is CPU work: on a thread it would hold the GIL that the writer needs)."""
    resp = fetcher.get(
        job.url,
        etag=job.etag,
        last_modified=job.last_modified,
        allow_private=job.allow_private,
        accept=FEED_ACCEPT,
    )
    if resp.not_modified:
        return resp, None
    if processes is not None:
        try:
            return resp, processes.submit(parse_feed, resp.content, dict(resp.headers)).result()
        except BrokenProcessPool:
            pass  # the pool is being rebuilt or shut down: parse here instead
    return resp, parse_feed(resp.content, resp.headers)
