"""One polling cycle: fetch feeds -> fetch new pages -> extract -> dedup + tag -> store.

Network work runs on a thread pool, extraction on a process pool sized to the cores, and
every database write happens on the calling thread, one commit per article, so a crash
loses at most the item in flight. A feed's ETag/Last-Modified are saved only once all its
new entries are stored: a killed run re-reads the feed next time instead of skipping it.
The feeds' half of the cycle (feed states, new entries scheduled) is in `feedstages`, the
pages' half (per-host queue, retries, extraction, storing) in `pages`; nothing about one
feed or page ends the cycle, only what is global (see `pages.is_global`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, or_, select

from monitor.config.load import Settings
from monitor.config.sections import FeedConfig
from monitor.dedup.features import load_embedders
from monitor.net.fetch import Fetcher
from monitor.run.feedstages import FeedStages
from monitor.run.orphans import mark_parent
from monitor.run.pages import PageStages, is_global
from monitor.run.polljobs import (
    FeedJob,
    PageJob,
    PageQueue,
    PollStats,
    Reporter,
    fetch_feed,
)
from monitor.run.process import (
    ArticleWorker,
    forkserver_preload,
    init_worker,
    warm_worker,
)
from monitor.store.dedup_index import DedupIndex
from monitor.store.models import Feed, utcnow
from monitor.store.write import (
    prune_fetch_log,
    sync_feeds,
)
from monitor.topics.tagger import Tagger

log = logging.getLogger("monitor.poll")
# New entries in a cycle from which the writer's embedders load ahead (`_load_models_ahead`).
MODELS_AHEAD = 20
FETCH_LOG_DAYS = 30  # the fetch log is for debugging recent failures, not an archive


class Poller(FeedStages, PageStages):
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
        self.processes: Executor | None = self._new_pool() if workers > 1 else None
        self._started = False
        self._models_ahead = False
        self._queue = PageQueue(settings.fetch.per_host_concurrency)
        self._active = 0

    def _new_pool(self) -> Executor:
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        # forkserver: never fork a process that has fetch threads running.
        mark_parent()  # the fork server (monitor.run.forkguard) dies with this process
        context = get_context("forkserver")
        context.set_forkserver_preload(forkserver_preload(self.settings.dedup))
        return ProcessPoolExecutor(
            self.workers, mp_context=context, initializer=init_worker, initargs=(self.worker,)
        )

    def _replace_pool(self, broken: Executor) -> None:
        """An extraction process died (the OOM killer, a crash in a C library): the pool is
        broken for every later task, so a new one takes its place."""
        if self.processes is not broken:
            return  # replaced already, by another page of the same pool
        log.warning("an extraction process died: starting new ones")
        broken.shutdown(wait=False, cancel_futures=True)
        self.processes = self._new_pool()
        self._started = False
        self._start_workers()

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

    def _load_models_ahead(self, new_entries: int) -> None:
        """Once a cycle has MODELS_AHEAD new entries, load the writer's embedders in a
        thread while the pages are fetched: otherwise the first article that needs one holds
        up the writer while it loads, and with it the pages the extraction processes wait
        for. A smaller cycle loads them only if an article needs one (most do not)."""
        if new_entries < MODELS_AHEAD or self._models_ahead:
            return
        self._models_ahead = True
        threading.Thread(target=self._load_models, name="models", daemon=True).start()

    def _load_models(self) -> None:
        try:
            load_embedders(self.settings.dedup)
        except Exception as exc:  # a missing model: the first lead that needs it says so
            log.debug("embedders not loaded ahead: %r", exc)

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
            self._queue = PageQueue(self.settings.fetch.per_host_concurrency)
            self._active = 0
            self._uncommitted, self._last_commit = 0, time.monotonic()
            self._last_queue_log = time.monotonic()
            self._queue_retries(session, names)
            while (pending or self._queue) and not self.stop.is_set():
                self._fill(pending)
                if pending:
                    done = wait(pending, timeout=self._idle(), return_when=FIRST_COMPLETED)[0]
                else:  # only retries held for later: sleep until the first is due
                    self.stop.wait(self._idle())
                    done = set()
                # Fetched pages first (each only goes to an extraction process), stores
                # last: while one article is stored, the processes extract the next.
                for fut in sorted(done, key=lambda f: pending[f][0] == "extract"):
                    if fut not in pending:
                        continue  # handled by a sweep after a store
                    kind = pending[fut][0]
                    self._handle(session, fut, pending, inflight, index, stats)
                    if kind == "extract":
                        self._sweep(session, pending, inflight, index, stats)
                self._log_queues()
            for fut in pending:
                fut.cancel()
            prune_fetch_log(session, utcnow() - timedelta(days=FETCH_LOG_DAYS))
            session.commit()
            stats.embedded = index.embedded_new
        self.report("done", {"stats": stats})
        return stats

    def _handle(
        self,
        session: Session,
        fut: Future[Any],
        pending: dict[Future[Any], tuple[str, Any]],
        inflight: dict[str, PageJob],
        index: DedupIndex,
        stats: PollStats,
    ) -> None:
        """One finished feed fetch, page fetch or extraction: whatever goes wrong with it
        is recorded on its feed or article, and the cycle goes on."""
        kind, job = pending.pop(fut)
        if kind != "feed" and self._uncommitted:
            # A page's failure rolls back: not the feed states batched so far.
            self._commit(session)
        try:
            if kind == "feed":
                self._on_feed(session, job, fut, pending, inflight, index, stats)
            elif kind == "page":
                self._on_page(session, job, fut, pending, index, stats)
            else:
                self._on_extracted(session, job, fut, pending, index, stats)
        except Exception as exc:
            session.rollback()
            if is_global(exc):
                raise
            self._item_failed(session, kind, job, exc, index, stats)

    def _sweep(
        self,
        session: Session,
        pending: dict[Future[Any], tuple[str, Any]],
        inflight: dict[str, PageJob],
        index: DedupIndex,
        stats: PollStats,
    ) -> None:
        """After a store (which may take a while: it can load or run a model), hand the
        pages fetched meanwhile to the extraction processes and start the next fetches, so
        that the processes have pages for the time the next store takes."""
        for fut in [f for f, (kind, _) in pending.items() if kind == "page" and f.done()]:
            self._handle(session, fut, pending, inflight, index, stats)
        self._fill(pending)
