"""The page half of a polling cycle: queue pages per host, fetch them, retry what may pass,
extract, and store or complete the article; a failure stays with its page.

`PageStages` is a part of `monitor.run.pipeline.Poller` (which owns the pools, the feed
states and the loop); it is kept apart so that each file reads as one concept.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import exc as sa_exc
from sqlmodel import Session

from monitor.config.load import Settings
from monitor.errors import FetchError, MonitorError, NotAFeedError
from monitor.feeds.parse import FeedEntry
from monitor.net.fetch import Fetcher, Response
from monitor.run.polljobs import FeedJob, PageJob, PageQueue, PollStats, Reporter
from monitor.run.process import ArticleWorker, Prepared, prepare_in_worker
from monitor.store.dedup_index import DedupIndex
from monitor.store.models import Feed, utcnow
from monitor.store.write import (
    AlreadyStored,
    PageFetch,
    article_by_url,
    complete_article,
    due_page_retries,
    log_fetch,
    record_page_failure,
    save_article,
    save_entry,
)

log = logging.getLogger("monitor.poll")
RETRIES_PER_CYCLE = 1000  # stored pages tried again in one cycle, the longest waiting first
# Pages in flight (fetched, extracting or waiting to be stored) beyond the fetches, per
# extraction process: enough for the processes to go on while the writer loads or runs a
# model (a second or two), few enough to bound memory (pages of up to fetch.max_bytes).
LOOKAHEAD = 12
QUEUE_LOG_SECONDS = 10.0  # how often a cycle with pages queued behind busy hosts says so


def is_global(exc: BaseException) -> bool:
    """True when an error concerns the whole run (the database unreachable, full or
    read-only, a bug in the configuration), False when it concerns one feed or page (a
    constraint violated by one row, a parser or extractor crashing on one input)."""
    if isinstance(exc, sa_exc.IntegrityError | sa_exc.DataError):
        return False
    if isinstance(exc, FetchError | NotAFeedError):
        return False
    return isinstance(exc, sa_exc.SQLAlchemyError | MonitorError | MemoryError)


class PageStages:
    settings: Settings
    report: Reporter
    stop: threading.Event
    fetcher: Fetcher
    threads: ThreadPoolExecutor
    workers: int
    worker: ArticleWorker
    processes: Executor | None
    _queue: PageQueue
    _active: int
    _last_queue_log: float
    _rows: dict[str, Feed]

    if TYPE_CHECKING:  # the Poller's own, and the feed half's (feedstages)

        def _start_workers(self) -> None: ...
        def _replace_pool(self, broken: Executor) -> None: ...
        def _feed_ok(self, session: Session, job: FeedJob, feed: Feed, now: datetime) -> None: ...
        def _feed_failed(
            self,
            session: Session,
            feed: Feed,
            exc: MonitorError,
            now: datetime,
            stats: PollStats,
        ) -> None: ...

    def _idle(self) -> float:
        """How long the loop may wait for a result: a second, or less if a retry is due."""
        due = self._queue.next_due()
        if due is None:
            return 1.0
        return min(1.0, max(0.01, due - time.monotonic()))

    def _log_queues(self) -> None:
        """On long waits, say which hosts hold pages back (politeness), and how many."""
        now = time.monotonic()
        if now - self._last_queue_log < QUEUE_LOG_SECONDS:
            return
        self._last_queue_log = now
        waiting = self._queue.waiting()
        if not waiting:
            return
        busiest = sorted(waiting.items(), key=lambda kv: -kv[1])[:5]
        log.info(
            "pages waiting for their host: %s",
            " ".join(f"host={h} queued={n}" for h, n in busiest),
        )
        self.report("queue", {"hosts": dict(busiest), "queued": sum(waiting.values())})

    def _queue_retries(self, session: Session, names: Sequence[str] | None) -> None:
        """Queue the stored pages whose retry is due (of the feeds polled, when named)."""
        configs = {f.name: f for f in self.settings.feeds}
        wanted = set(names) if names else set(configs)
        feeds: dict[int, Feed] = {
            r.id: r
            for n, r in self._rows.items()
            if n in wanted and n in configs and r.id is not None
        }
        due = due_page_retries(session, utcnow(), list(feeds), RETRIES_PER_CYCLE)
        for art in due:
            assert art.feed_id is not None and art.id is not None
            row = feeds[art.feed_id]
            assert row.id is not None
            cfg = configs[row.name]
            job = FeedJob(row.id, row.name, row.url, None, None, cfg.allow_private, None)
            # What the feed gave is what the article holds: its text is the feed's text.
            entry = FeedEntry(
                art.guid or art.url, art.url, art.title, art.text, "", art.author, art.published
            )
            page = PageJob(job, entry, art.url, art.canonical_url)
            page.article_id, page.prior_attempts = art.id, art.fetch_attempts
            self._queue.push(page)
        if due:
            log.info("pages to try again: %d", len(due))
            self._start_workers()

    def _fill(self, pending: dict[Future[Any], tuple[str, Any]]) -> None:
        """Start page fetches while fewer than `limit` pages are in flight.

        Back-pressure: fetching runs ahead of extraction only by a bounded number of pages,
        so memory does not grow with the number of new entries in a cycle. The queue hands
        out a host's pages only as fast as its politeness allows (see PageQueue).
        """
        limit = self.settings.fetch.concurrency + LOOKAHEAD * self.workers
        now = time.monotonic()
        while self._active < limit and not self.stop.is_set():
            page = self._queue.pop(now)
            if page is None:
                return
            self._active += 1
            page.released = False
            page.attempts += 1
            fut = self.threads.submit(
                self.fetcher.get, page.url, allow_private=page.feed.allow_private
            )
            pending[fut] = ("page", page)

    def _release(self, page: PageJob) -> None:
        """The page no longer counts against the in-flight limit (idempotent)."""
        self._queue.done(page)
        if not page.released:
            page.released = True
            self._active -= 1

    def _on_page(
        self,
        session: Session,
        page: PageJob,
        fut: Future[Any],
        pending: dict[Future[Any], tuple[str, Any]],
        index: DedupIndex,
        stats: PollStats,
    ) -> None:
        self._queue.done(page)  # the host's slot is free; the page stays in flight
        try:
            resp: Response = fut.result()
        except FetchError as exc:
            self._page_failed(session, page, exc, index, stats)
            return
        except Exception as exc:  # the fetcher raises only FetchError on purpose
            stats.errors += 1
            failure = FetchError(page.url, f"fetch failed: {exc!r}")
            self._page_failed(session, page, failure, index, stats)
            return
        page.url = resp.url
        page.html = resp.content
        self._extract(page, pending)

    def _extract(self, page: PageJob, pending: dict[Future[Any], tuple[str, Any]]) -> None:
        feed_id, entry, canonical = page.feed.id, page.entry, page.canonical
        page.extract_tries += 1
        if self.processes is not None:
            args = (feed_id, entry, page.url, canonical, page.html)
            try:
                efut = self.processes.submit(prepare_in_worker, *args)
            except (BrokenProcessPool, OSError):  # broke since the last result: replace it
                self._replace_pool(self.processes)
                efut = self.processes.submit(prepare_in_worker, *args)
            page.pool = self.processes
        else:
            efut = Future()
            efut.set_result(
                self.worker.prepare(feed_id, entry, page.url, canonical, page.html, None)
            )
        pending[efut] = ("extract", page)

    def _page_failed(
        self, session: Session, page: PageJob, exc: FetchError, index: DedupIndex, stats: PollStats
    ) -> None:
        cfg = self.settings.fetch
        retry_after = exc.retry_after
        if (
            exc.transient
            and page.article_id is None
            and page.attempts <= cfg.page_retries
            and (retry_after is None or retry_after <= cfg.max_retry_after)
            and not self.stop.is_set()
        ):
            wait_s = cfg.page_retry_wait * 2 ** (page.attempts - 1)
            if retry_after is not None:
                wait_s = retry_after
            log.info(
                "page retry feed=%s url=%s error=%s in=%.1fs",
                page.feed.name,
                page.url,
                exc.message,
                wait_s,
            )
            stats.retried += 1
            self._release(page)
            self._queue.push(page, time.monotonic() + wait_s)
            return
        attempts = page.prior_attempts + page.attempts
        next_at = self._next_try(attempts, retry_after) if exc.transient else None
        fetch = PageFetch(attempts, next_at, exc.message)
        log.warning(
            "page failed feed=%s url=%s error=%s attempts=%d next_try=%s",
            page.feed.name,
            page.url,
            exc.message,
            attempts,
            next_at.isoformat() if next_at else None,
        )
        log_fetch(session, page.feed.id, page.url, exc.status, 0, 0.0, exc.message[:1000])
        if page.article_id is not None:
            record_page_failure(session, page.article_id, fetch)
            session.commit()
            self._release(page)
            return
        prepared = self.worker.prepare(
            page.feed.id, page.entry, page.url, page.canonical, None, exc.message
        )
        self._finish_page(session, page, prepared, index, stats, fetch)

    def _next_try(self, attempts: int, retry_after: float | None) -> datetime | None:
        """When a page that failed `attempts` times in all is tried again on a later cycle:
        `page_retry_minutes` after the first cycle's tries, doubling each time, never
        sooner than the server asked; None once `page_max_attempts` are used up."""
        cfg = self.settings.fetch
        if attempts >= cfg.page_max_attempts:
            return None
        later = max(0, attempts - 1 - cfg.page_retries)
        seconds = cfg.page_retry_minutes * 60.0 * 2**later
        return utcnow() + timedelta(seconds=max(seconds, retry_after or 0.0))

    def _on_extracted(
        self,
        session: Session,
        page: PageJob,
        fut: Future[Any],
        pending: dict[Future[Any], tuple[str, Any]],
        index: DedupIndex,
        stats: PollStats,
    ) -> None:
        try:
            prepared: Prepared = fut.result()
        except BrokenProcessPool:
            if self.stop.is_set():
                # A signal to the whole group (Ctrl-C): store nothing, the feed stays due
                # and the page is fetched again next run.
                log.warning("extraction interrupted feed=%s url=%s", page.feed.name, page.url)
                self._release(page)
                return
            if page.pool is not None:
                self._replace_pool(page.pool)
            if page.extract_tries < 2:  # it may have been another page's crash: once more
                self._extract(page, pending)
                return
            stats.errors += 1
            prepared = self.worker.prepare(
                page.feed.id,
                page.entry,
                page.url,
                page.canonical,
                None,
                "extraction failed: the extraction process died on this page",
            )
        attempts = page.prior_attempts + page.attempts
        self._finish_page(session, page, prepared, index, stats, PageFetch(attempts))

    def _finish_page(
        self,
        session: Session,
        page: PageJob,
        prepared: Prepared,
        index: DedupIndex,
        stats: PollStats,
        fetch: PageFetch,
    ) -> None:
        page.html = None
        if page.article_id is not None:
            new = prepared.article
            if new.status == "fetch-failed":  # no page: keep what is stored, count the try
                record_page_failure(session, page.article_id, fetch)
            else:
                verdict = complete_article(
                    session,
                    page.article_id,
                    new,
                    index,
                    prepared.features,
                    prepared.tagging,
                    fetch,
                )
                stats.completed += 1
                self.report(
                    "article", {"feed": page.feed.name, "url": new.url, "duplicate": verdict.kind}
                )
            session.commit()
            self._release(page)
            return
        article_id = self._store(session, page.feed, page.entry, prepared, index, stats, fetch)
        for job, entry in page.waiting:
            save_entry(session, job.id, entry.guid, entry.link, article_id)
        session.commit()
        self._release(page)
        for job in [page.feed, *(job for job, _ in page.waiting)]:
            job.pending -= 1
            if job.pending == 0 and not job.incomplete:
                feed = session.get(Feed, job.id)
                assert feed is not None
                self._feed_ok(session, job, feed, utcnow())

    def _item_failed(
        self,
        session: Session,
        kind: str,
        job: Any,
        exc: Exception,
        index: DedupIndex,
        stats: PollStats,
    ) -> None:
        """Something unexpected went wrong with one feed or page (a bug, a constraint on
        one row): record it on the feed or article and in the fetch log, and go on."""
        stats.errors += 1
        message = f"internal error: {type(exc).__name__}: {exc}"[:1000]
        if kind == "feed":
            feed = session.get(Feed, job.id)
            assert feed is not None
            log.error("feed failed feed=%s", job.name, exc_info=exc)
            self._feed_failed(session, feed, MonitorError(message), utcnow(), stats)
            session.commit()
            return
        page: PageJob = job
        log.error("page failed feed=%s url=%s", page.feed.name, page.url, exc_info=exc)
        attempts = page.prior_attempts + page.attempts
        try:
            log_fetch(session, page.feed.id, page.url, None, 0, 0.0, message)
            if page.article_id is not None:
                record_page_failure(session, page.article_id, PageFetch(attempts, None, message))
                session.commit()
                return
            prepared = self.worker.prepare(
                page.feed.id, page.entry, page.url, page.canonical, None, message
            )
            self._finish_page(session, page, prepared, index, stats, PageFetch(attempts))
        except Exception as again:
            session.rollback()
            if is_global(again):
                raise
            # Not even storable without its page: leave it out. Its feeds are not marked
            # polled (due again, the entry comes back next cycle); they say why.
            message = f"internal error: {type(again).__name__}: {again}"[:1000]
            log.error("page not stored feed=%s url=%s", page.feed.name, page.url, exc_info=again)
            log_fetch(session, page.feed.id, page.url, None, 0, 0.0, message)
            for waiting in [page.feed, *(j for j, _ in page.waiting)]:
                waiting.pending -= 1
                waiting.incomplete = True
                feed = session.get(Feed, waiting.id)
                if feed is not None and page.article_id is None:
                    feed.last_error = f"page {page.url}: {message}"[:1000]
                    feed.last_error_at = utcnow()
            session.commit()
        finally:
            page.html = None
            self._release(page)

    def _store(
        self,
        session: Session,
        job: FeedJob,
        entry: FeedEntry,
        prepared: Prepared,
        index: DedupIndex,
        stats: PollStats,
        fetch: PageFetch | None = None,
    ) -> int:
        """Store the article of `entry` (or link the entry to the one stored meanwhile);
        the caller commits, together with whatever else the page changed."""
        new = prepared.article
        existing = article_by_url(session, new.canonical_url)
        if existing is not None:  # stored meanwhile through another entry
            save_entry(session, job.id, entry.guid, entry.link, existing)
            return existing
        try:
            article_id, verdict = save_article(
                session, new, index, prepared.features, prepared.tagging, fetch
            )
        except AlreadyStored as exc:  # another worker stored it since the check above
            save_entry(session, job.id, entry.guid, entry.link, exc.article_id)
            return exc.article_id
        stats.articles += 1
        if verdict.kind:
            stats.duplicates += 1
        self.report("article", {"feed": job.name, "url": new.url, "duplicate": verdict.kind})
        return article_id
