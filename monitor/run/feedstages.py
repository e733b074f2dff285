"""The feed half of a polling cycle: a fetched feed's state recorded (its ETag only once all
its new entries are stored), its new entries scheduled as pages, or stored at once when the
feed's own content is the article.

`FeedStages` is a part of `monitor.run.pipeline.Poller` (which owns the pools and the loop),
beside `monitor.run.pages.PageStages`; it is kept apart so that each file reads as one concept.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from monitor.config.load import Settings
from monitor.errors import FetchError, MonitorError, NotAFeedError
from monitor.feeds.parse import FeedEntry
from monitor.feeds.state import mark_failure, mark_success
from monitor.net.urls import canonical_url, is_http_url
from monitor.run.polljobs import FeedJob, PageJob, PageQueue, PollStats, Reporter
from monitor.run.process import ArticleWorker, Prepared
from monitor.store.dedup_index import DedupIndex
from monitor.store.models import Feed, utcnow
from monitor.store.write import PageFetch, article_by_url, known_guids, log_fetch, save_entry

log = logging.getLogger("monitor.poll")


class FeedStages:
    settings: Settings
    report: Reporter
    worker: ArticleWorker
    _queue: PageQueue
    _uncommitted: int
    _last_commit: float

    if TYPE_CHECKING:  # the Poller's own, and the page half's

        def _start_workers(self) -> None: ...
        def _load_models_ahead(self, new_entries: int) -> None: ...
        def _store(
            self,
            session: Session,
            job: FeedJob,
            entry: FeedEntry,
            prepared: Prepared,
            index: DedupIndex,
            stats: PollStats,
            fetch: PageFetch | None = None,
        ) -> int: ...

    def _on_feed(
        self,
        session: Session,
        job: FeedJob,
        fut: Future[Any],
        pending: dict[Future[Any], tuple[str, Any]],
        inflight: dict[str, PageJob],
        index: DedupIndex,
        stats: PollStats,
    ) -> None:
        feed = session.get(Feed, job.id)
        assert feed is not None
        now = utcnow()
        feed.last_checked = now
        try:
            resp, parsed = fut.result()
        except (FetchError, NotAFeedError) as exc:
            self._feed_failed(session, feed, exc, now, stats)
            return
        except Exception as exc:  # a parser crashing on this feed's bytes: this feed failed
            stats.errors += 1
            self._feed_failed(session, feed, MonitorError(f"cannot parse: {exc!r}"), now, stats)
            return
        log_fetch(session, feed.id, job.url, resp.status, len(resp.content), resp.elapsed, None)
        job.response, job.parsed = resp, parsed
        if parsed is None:
            stats.not_modified += 1
            self._feed_ok(session, job, feed, now)
            return
        feed.title = parsed.title or feed.title
        feed.site_url = parsed.site_url or feed.site_url
        feed.problem = parsed.problem
        unique: dict[str, FeedEntry] = {}
        for e in parsed.entries:  # a GUID repeated within one feed is one item
            unique.setdefault(e.guid, e)
        entries = list(unique.values())
        known = known_guids(session, job.id, list(unique))
        new = [e for e in entries if e.guid not in known]
        if new:
            self._start_workers()
        stats.new_entries += len(new)
        self._load_models_ahead(stats.new_entries)
        feed.entries += len(new)
        for entry in new:
            self._schedule_entry(session, job, entry, pending, inflight, index, stats)
        if job.pending == 0:
            self._feed_ok(session, job, feed, now)
        else:
            self._commit_soon(session)
        self.report("feed", {"name": job.name, "new": len(new)})

    def _schedule_entry(
        self,
        session: Session,
        job: FeedJob,
        entry: FeedEntry,
        pending: dict[Future[Any], tuple[str, Any]],
        inflight: dict[str, PageJob],
        index: DedupIndex,
        stats: PollStats,
    ) -> None:
        if entry.link is None:
            # Nothing to fetch: the feed's own content is the article.
            key = entry.guid if is_http_url(entry.guid) else f"feed:{job.id}:{entry.guid}"
            prepared = self.worker.prepare(job.id, entry, entry.guid, key, None, None)
            self._store(session, job, entry, prepared, index, stats)
            session.commit()
            return
        canonical = canonical_url(entry.link)
        existing = article_by_url(session, canonical)
        if existing is not None:
            save_entry(session, job.id, entry.guid, entry.link, existing)
            return
        if canonical in inflight:
            # The entry is stored when that page is: until then its feed is not done either
            # (its ETag saved early would make a crash lose the entry for good).
            inflight[canonical].waiting.append((job, entry))
            job.pending += 1
            return
        page = PageJob(job, entry, entry.link, canonical)
        inflight[canonical] = page
        job.pending += 1
        self._queue.push(page)

    def _feed_ok(self, session: Session, job: FeedJob, feed: Feed, now: datetime) -> None:
        cfg = self.settings.schedule
        mark_success(feed, cfg, now, job.response, job.parsed, job.interval)
        self._commit_soon(session)

    def _commit_soon(self, session: Session) -> None:
        """Feed-state changes are committed in batches (at most a second or 200 feeds
        late): a crash can only make those feeds due again, never lose an entry, since
        a feed's new entries and its ETag always land in the same transaction."""
        self._uncommitted += 1
        if self._uncommitted >= 200 or time.monotonic() - self._last_commit >= 1.0:
            self._commit(session)

    def _commit(self, session: Session) -> None:
        session.commit()
        self._uncommitted, self._last_commit = 0, time.monotonic()

    def _feed_failed(
        self, session: Session, feed: Feed, exc: MonitorError, now: datetime, stats: PollStats
    ) -> None:
        stats.failed += 1
        message = mark_failure(feed, self.settings.schedule, now, exc)
        status = exc.status if isinstance(exc, FetchError) else None
        log_fetch(session, feed.id, feed.url, status, 0, 0.0, message[:1000])
        self._commit_soon(session)
        log.warning(
            "feed failed feed=%s url=%s error=%s next_check=%s",
            feed.name,
            feed.url,
            message,
            feed.next_check.isoformat() if feed.next_check else None,
        )
        self.report("feed", {"name": feed.name, "error": message})
