"""One polling cycle: fetch feeds -> fetch new pages -> extract -> dedup + tag -> store.

Network work runs on a thread pool, extraction on a process pool sized to the cores, and
every database write happens on the calling thread, one commit per article, so a crash
loses at most the item in flight. A feed's ETag/Last-Modified are saved only once all its
new entries are stored: a killed run re-reads the feed next time instead of skipping it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, or_, select

from monitor.config.load import Settings
from monitor.config.sections import FeedConfig
from monitor.errors import FetchError, MonitorError, NotAFeedError
from monitor.feeds.parse import FeedEntry
from monitor.feeds.state import mark_failure, mark_success
from monitor.net.fetch import Fetcher, Response
from monitor.net.urls import canonical_url, is_http_url
from monitor.run.polljobs import FeedJob, PageJob, PollStats, Reporter, fetch_feed
from monitor.run.process import (
    ArticleWorker,
    Prepared,
    forkserver_preload,
    init_worker,
    prepare_in_worker,
    warm_worker,
)
from monitor.store.dedup_index import DedupIndex
from monitor.store.models import Feed, utcnow
from monitor.store.write import (
    AlreadyStored,
    article_by_url,
    known_guids,
    log_fetch,
    prune_fetch_log,
    save_article,
    save_entry,
    sync_feeds,
)
from monitor.topics.tagger import Tagger

log = logging.getLogger("monitor.poll")
FETCH_LOG_DAYS = 30  # the fetch log is for debugging recent failures, not an archive


class Poller:
    """Polls feeds; build once (the daemon keeps it across cycles), close when done."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        tagger: Tagger,
        *,
        reporter: Reporter | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.report: Reporter = reporter or (lambda event, data: None)
        self.stop = stop or threading.Event()
        self.fetcher = Fetcher(settings.fetch)
        self.threads = ThreadPoolExecutor(
            max(2, settings.fetch.concurrency), thread_name_prefix="fetch"
        )
        workers = settings.extract.workers or (os.cpu_count() or 1)
        self.workers = workers
        self.worker = ArticleWorker(settings.extract, settings.dedup, tagger)
        self.processes: Executor | None = None
        if workers > 1:
            from concurrent.futures import ProcessPoolExecutor
            from multiprocessing import get_context

            # forkserver: never fork a process that has fetch threads running.
            context = get_context("forkserver")
            context.set_forkserver_preload(forkserver_preload(settings.dedup))
            self.processes = ProcessPoolExecutor(
                workers, mp_context=context, initializer=init_worker, initargs=(self.worker,)
            )
        self._started = False

    def _start_workers(self) -> None:
        """Start every extraction process and load its models, in a thread: the first feed
        with new entries calls this, and the pages are fetched meanwhile. (The fork server
        imports the libraries once, PRELOAD; starting a process waits for it. A cycle of
        unchanged feeds starts nothing.)"""
        if self.processes is None or self._started:
            return
        self._started = True
        threading.Thread(target=self._warm_workers, name="pool-start", daemon=True).start()

    def _warm_workers(self) -> None:
        assert self.processes is not None
        try:
            for _ in range(self.workers):
                self.processes.submit(warm_worker)
        except Exception as exc:  # closed first, or a signal hit the fork server's start-up
            # The pool then fails the first real task, where it is handled and reported.
            log.debug("extraction processes not started: %r", exc)

    def close(self) -> None:
        self.threads.shutdown(wait=False, cancel_futures=True)
        if self.processes is not None:
            self.processes.shutdown(wait=False, cancel_futures=True)
        self.fetcher.close()

    # -- selection ---------------------------------------------------------------------

    def due_jobs(
        self, session: Session, names: Sequence[str] | None, everything: bool
    ) -> list[FeedJob]:
        configs = {f.name: f for f in self.settings.feeds}
        rows = sync_feeds(session, self.settings.feeds)
        # Held for the cycle: the session's identity map is weak, and a feed row that
        # stays loaded is updated without being read again.
        self._rows = rows
        session.commit()
        wanted = [rows[n] for n in (names or configs) if n in rows and n in configs]
        if not everything and not names:
            now = utcnow()
            due = {
                r.id
                for r in session.exec(
                    select(Feed).where(
                        or_(col(Feed.next_check).is_(None), col(Feed.next_check) <= now)
                    )
                )
            }
            wanted = [r for r in wanted if r.id in due]
        jobs = []
        for row in wanted:
            cfg: FeedConfig = configs[row.name]
            assert row.id is not None
            jobs.append(
                FeedJob(
                    row.id,
                    row.name,
                    row.url,
                    row.etag,
                    row.last_modified,
                    cfg.allow_private,
                    cfg.interval_minutes,
                )
            )
        return jobs

    # -- the cycle ---------------------------------------------------------------------

    def poll(self, names: Sequence[str] | None = None, everything: bool = False) -> PollStats:
        stats = PollStats()
        with Session(self.engine, expire_on_commit=False) as session:
            jobs = self.due_jobs(session, names, everything)
            stats.feeds = len(jobs)
            self.report("start", {"feeds": len(jobs)})
            index = DedupIndex(session, self.settings.dedup)
            pending: dict[Future[Any], tuple[str, Any]] = {}
            for job in jobs:
                fut = self.threads.submit(fetch_feed, self.fetcher, job, self.processes)
                pending[fut] = ("feed", job)
            inflight: dict[str, PageJob] = {}
            self._queue: deque[PageJob] = deque()
            self._active = 0
            self._uncommitted, self._last_commit = 0, time.monotonic()
            while pending and not self.stop.is_set():
                done, _ = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
                for fut in done:
                    kind, job = pending.pop(fut)
                    try:
                        if kind == "feed":
                            self._on_feed(session, job, fut, pending, inflight, index, stats)
                        elif kind == "page":
                            self._on_page(session, job, fut, pending, index, stats)
                        else:
                            self._on_extracted(session, job, fut, index, stats)
                    except Exception:
                        session.rollback()
                        raise
                self._fill(pending)
            for fut in pending:
                fut.cancel()
            prune_fetch_log(session, utcnow() - timedelta(days=FETCH_LOG_DAYS))
            session.commit()
        self.report("done", {"stats": stats})
        return stats

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
        self._queue.append(page)

    def _fill(self, pending: dict[Future[Any], tuple[str, Any]]) -> None:
        """Start page fetches while fewer than `limit` pages are in flight.

        Back-pressure: fetching runs ahead of extraction only by a bounded number of pages,
        so memory does not grow with the number of new entries in a cycle.
        """
        limit = self.settings.fetch.concurrency + 2 * self.workers
        while self._queue and self._active < limit and not self.stop.is_set():
            page = self._queue.popleft()
            self._active += 1
            fut = self.threads.submit(
                self.fetcher.get, page.url, allow_private=page.feed.allow_private
            )
            pending[fut] = ("page", page)

    def _on_page(
        self,
        session: Session,
        page: PageJob,
        fut: Future[Any],
        pending: dict[Future[Any], tuple[str, Any]],
        index: DedupIndex,
        stats: PollStats,
    ) -> None:
        try:
            resp: Response = fut.result()
        except FetchError as exc:
            log.warning(
                "page failed feed=%s url=%s error=%s", page.feed.name, page.url, exc.message
            )
            prepared = self.worker.prepare(
                page.feed.id, page.entry, page.url, page.canonical, None, exc.message
            )
            self._finish_page(session, page, prepared, index, stats)
            return
        page.url = resp.url
        feed_id, entry, canonical = page.feed.id, page.entry, page.canonical
        if self.processes is not None:
            efut = self.processes.submit(
                prepare_in_worker, feed_id, entry, resp.url, canonical, resp.content
            )
        else:
            efut = Future()
            efut.set_result(
                self.worker.prepare(feed_id, entry, resp.url, canonical, resp.content, None)
            )
        pending[efut] = ("extract", page)

    def _on_extracted(
        self,
        session: Session,
        page: PageJob,
        fut: Future[Any],
        index: DedupIndex,
        stats: PollStats,
    ) -> None:
        try:
            prepared: Prepared = fut.result()
        except BrokenProcessPool:
            # A worker was killed (a signal to the whole group, the OOM killer), not a bad
            # page: store nothing, the feed stays due and the page is fetched again next run.
            log.warning("extraction interrupted feed=%s url=%s", page.feed.name, page.url)
            self._active -= 1
            return
        self._finish_page(session, page, prepared, index, stats)

    def _finish_page(
        self,
        session: Session,
        page: PageJob,
        prepared: Prepared,
        index: DedupIndex,
        stats: PollStats,
    ) -> None:
        article_id = self._store(session, page.feed, page.entry, prepared, index, stats)
        for job, entry in page.waiting:
            save_entry(session, job.id, entry.guid, entry.link, article_id)
        session.commit()
        self._active -= 1
        for job in [page.feed, *(job for job, _ in page.waiting)]:
            job.pending -= 1
            if job.pending == 0:
                feed = session.get(Feed, job.id)
                assert feed is not None
                self._feed_ok(session, job, feed, utcnow())

    def _store(
        self,
        session: Session,
        job: FeedJob,
        entry: FeedEntry,
        prepared: Prepared,
        index: DedupIndex,
        stats: PollStats,
    ) -> int:
        new = prepared.article
        existing = article_by_url(session, new.canonical_url)
        if existing is not None:  # stored meanwhile through another entry
            save_entry(session, job.id, entry.guid, entry.link, existing)
            session.commit()
            return existing
        try:
            article_id, verdict = save_article(
                session, new, index, prepared.features, prepared.tagging
            )
        except AlreadyStored as exc:  # another worker stored it since the check above
            save_entry(session, job.id, entry.guid, entry.link, exc.article_id)
            session.commit()
            return exc.article_id
        session.commit()
        stats.articles += 1
        if verdict.kind:
            stats.duplicates += 1
        self.report("article", {"feed": job.name, "url": new.url, "duplicate": verdict.kind})
        return article_id

    # -- feed state --------------------------------------------------------------------

    def _feed_ok(self, session: Session, job: FeedJob, feed: Feed, now: datetime) -> None:
        cfg = self.settings.schedule
        mark_success(feed, cfg, now, job.response, job.parsed, job.interval)
        self._commit_soon(session)

    def _commit_soon(self, session: Session) -> None:
        """Feed-state changes are committed in batches (at most a second or 200 feeds
        late): a crash can only make those feeds due again, never lose an entry, since
        a feed's new entries and its ETag always land in the same transaction."""
        self._uncommitted += 1
        now = time.monotonic()
        if self._uncommitted >= 200 or now - self._last_commit >= 1.0:
            session.commit()
            self._uncommitted, self._last_commit = 0, now

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
