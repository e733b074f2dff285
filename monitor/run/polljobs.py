"""The units of work of a polling cycle: a feed to fetch, a page to fetch, the counts."""

from __future__ import annotations

import heapq
import itertools
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Executor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

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
    embedded: int = 0  # new articles whose lead the embedder read (a candidate needed it)
    retried: int = 0  # requests repeated after a transient page failure
    completed: int = 0  # stored articles whose page arrived on a retry
    errors: int = 0  # items (a feed, a page) that failed unexpectedly; recorded, run went on


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
    incomplete: bool = False  # an entry could not be stored: not marked polled, due again
    response: Response | None = None
    parsed: ParsedFeed | None = None


@dataclass
class PageJob:
    feed: FeedJob
    entry: FeedEntry
    url: str
    canonical: str
    waiting: list[tuple[FeedJob, FeedEntry]] = field(default_factory=list)
    article_id: int | None = None  # a stored article whose page is tried again
    prior_attempts: int = 0  # requests made for it in earlier cycles
    attempts: int = 0  # requests made in this cycle
    extract_tries: int = 0  # sent to an extraction process (again after a crashed one)
    released: bool = False  # no longer counted as in flight
    slot: str = ""  # the host whose turn it was handed out on (the URL may redirect)
    html: bytes | None = None  # the page, until it is stored (kept to re-extract once)
    pool: Executor | None = None  # the extraction pool it was sent to

    @property
    def host(self) -> str:
        return (urlsplit(self.url).hostname or "").lower()


class PageQueue:
    """Pages waiting to be fetched, one line per host, served in turn.

    At most `per_host` pages of one host are handed out at a time: a host with hundreds of
    new pages waits for its politeness slots inside this queue, not on the fetch threads,
    so the pages of every other host go on meanwhile. A page waiting for a retry is held
    apart until it is due and blocks nothing.
    """

    def __init__(self, per_host: int) -> None:
        self.per_host = max(1, per_host)
        self._hosts: dict[str, deque[PageJob]] = {}
        self._order: deque[str] = deque()
        self._active: Counter[str] = Counter()
        self._later: list[tuple[float, int, PageJob]] = []
        self._seq = itertools.count()

    def __len__(self) -> int:
        return sum(len(q) for q in self._hosts.values()) + len(self._later)

    def push(self, page: PageJob, not_before: float = 0.0) -> None:
        if not_before:
            heapq.heappush(self._later, (not_before, next(self._seq), page))
            return
        host = page.host
        if host not in self._hosts:
            self._hosts[host] = deque()
            self._order.append(host)
        self._hosts[host].append(page)

    def pop(self, now: float) -> PageJob | None:
        """The next page to fetch, or None when every waiting host is busy."""
        while self._later and self._later[0][0] <= now:
            self.push(heapq.heappop(self._later)[2])
        for _ in range(len(self._order)):
            host = self._order[0]
            self._order.rotate(-1)
            if self._active[host] >= self.per_host:
                continue
            line = self._hosts[host]
            page = line.popleft()
            if not line:
                del self._hosts[host]
                self._order.remove(host)
            self._active[host] += 1
            page.slot = host
            return page
        return None

    def done(self, page: PageJob) -> None:
        """A page handed out by `pop` is no longer being fetched."""
        if not page.slot:
            return
        self._active[page.slot] -= 1
        if self._active[page.slot] <= 0:
            del self._active[page.slot]
        page.slot = ""

    def next_due(self) -> float | None:
        """When the first page held for a retry is due (monotonic), if any."""
        return self._later[0][0] if self._later else None

    def waiting(self) -> dict[str, int]:
        """Pages waiting, per host (retries held apart not counted)."""
        return {host: len(line) for host, line in self._hosts.items()}


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
            parsing = processes.submit(parse_feed, resp.content, dict(resp.headers))
        except (BrokenProcessPool, RuntimeError, OSError):
            pass  # the pool is broken, being replaced or shut down: parse here instead
        else:
            try:
                return resp, parsing.result()
            except BrokenProcessPool:
                pass  # its process died (the parser's own errors are raised as they are)
    return resp, parse_feed(resp.content, resp.headers)
