"""Scaling out on Dramatiq + Redis: the scheduler queues one task per due feed, and workers
on any number of machines poll one feed per task with the ordinary Poller.

Why each guarantee holds:
- a feed is never polled by two workers at once: its lease is a PostgreSQL advisory lock
  held by the worker's connection (released by the server if the worker dies); on SQLite
  the workers take the poll lock file, one at a time;
- a worker killed mid-task loses nothing: Dramatiq acknowledges a message only after the
  task returns, and the broker puts the tasks of a worker whose heartbeat stopped back on
  the queue; polling again is harmless (entries and articles have unique keys, the feed's
  ETag is saved only with its entries);
- a feed is queued once per cycle: the scheduler moves its `next_check` a lease ahead when
  it queues it, and a task for a feed polled since it was queued does nothing.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from types import FrameType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import event, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, or_, select

from monitor.config.sections import QueueSettings
from monitor.errors import MonitorError, QueueError
from monitor.run.context import AppContext
from monitor.run.daemon import Daemon
from monitor.run.lock import poll_lock
from monitor.run.orphans import WORKER_PARENT_ENV, die_with_parent, named_parent
from monitor.store import postgres
from monitor.store.models import Feed, utcnow
from monitor.store.write import sync_feeds

if TYPE_CHECKING:
    from dramatiq.brokers.redis import RedisBroker

    from monitor.run.pipeline import Poller

log = logging.getLogger("monitor.worker")
QUEUE = "monitor-feeds"
ACTOR = "poll_feed"
# Per million broker calls: how often a call also requeues the tasks of dead workers. Idle
# workers call about once a second, so a dead worker's task is back within seconds of its
# heartbeat timing out (Dramatiq's default, 1 in 1,000, would take many minutes).
MAINTENANCE_CHANCE = 100_000


class FeedInterrupted(MonitorError):
    """The worker is stopping and the feed is not done: the task is retried elsewhere."""


def redact(url: str) -> str:
    """The broker URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def make_broker(queue: QueueSettings) -> RedisBroker:
    """Connect to Redis and declare the feed queue; a clear error when it is unreachable."""
    import redis
    from dramatiq.brokers.redis import RedisBroker

    if urlsplit(queue.broker_url).scheme not in ("redis", "rediss", "unix"):
        raise QueueError(f"queue.broker_url: expected redis://… , got {redact(queue.broker_url)}")
    broker = RedisBroker(  # type: ignore[no-untyped-call]
        url=queue.broker_url,
        heartbeat_timeout=int(queue.requeue_after_seconds * 1000),
        maintenance_chance=MAINTENANCE_CHANCE,
    )
    try:
        broker.client.ping()
    except redis.RedisError as exc:
        raise QueueError(f"cannot reach the broker {redact(queue.broker_url)}: {exc}") from exc
    broker.declare_queue(QUEUE)
    return broker


# -- the scheduler side -------------------------------------------------------------------


def queue_due_feeds(engine: Engine, settings: Any, broker: RedisBroker) -> list[str]:
    """Queue one task per configured feed that is due, and lease it until it is polled."""
    from dramatiq import Message
    from redis import RedisError

    now = utcnow()
    configured = {f.name for f in settings.feeds}
    with Session(engine, expire_on_commit=False) as session:
        sync_feeds(session, settings.feeds)
        session.commit()
        # SKIP LOCKED: a second scheduler (there should be one, but) never queues them too.
        stmt = (
            select(Feed)
            .where(or_(col(Feed.next_check).is_(None), col(Feed.next_check) <= now))
            .order_by(col(Feed.next_check), col(Feed.id))
            .with_for_update(skip_locked=True)
        )
        due = [f for f in session.exec(stmt) if f.name in configured]
        previous = {f.name: f.next_check for f in due}
        leased = now + timedelta(minutes=settings.queue.lease_minutes)
        for feed in due:
            feed.next_check = leased
        session.commit()
    queued: list[str] = []
    try:
        for name in previous:
            message: Message[Any] = Message(
                queue_name=QUEUE,
                actor_name=ACTOR,
                args=(name, now.isoformat()),
                kwargs={},
                options={},
            )
            broker.enqueue(message)
            queued.append(name)
    except RedisError as exc:
        with Session(engine) as session:  # not queued: due again at the next tick
            for name in previous.keys() - set(queued):
                session.execute(
                    update(Feed).where(col(Feed.name) == name).values(next_check=previous[name])
                )
            session.commit()
        raise QueueError(f"cannot queue feeds on the broker: {exc}") from exc
    return queued


class Scheduler(Daemon):
    """`monitor run --scheduler-only`: the daemon's clock and digest job; due feeds go to
    the queue instead of being polled here."""

    def __init__(self, app: AppContext, tick: float | None = None) -> None:
        super().__init__(app, tick)
        self.broker = make_broker(self.settings.queue)

    def cycle(self) -> None:
        queued = queue_due_feeds(self.engine, self.settings, self.broker)
        if queued:
            log.info("queued feeds=%d", len(queued))


# -- the worker side ----------------------------------------------------------------------


class DbTimer:
    """Seconds spent in database calls (lock waits included), for the task log lines."""

    def __init__(self, engine: Engine) -> None:
        self.seconds = 0.0
        self._lock = threading.Lock()
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, *_args: Any) -> None:
        conn.info["monitor_t0"] = time.perf_counter()

    def _after(self, conn: Any, *_args: Any) -> None:
        started = conn.info.pop("monitor_t0", None)
        if started is not None:
            with self._lock:
                self.seconds += time.perf_counter() - started


class FeedWorker:
    """One per worker process: the engine, a Poller built once, and the task itself."""

    def __init__(self, app: AppContext, stop: threading.Event) -> None:
        # The worker processes are the parallelism: extraction runs in the task's thread.
        extract = dataclasses.replace(app.settings.extract, workers=1)
        self.settings = dataclasses.replace(app.settings, extract=extract)
        self.app = app
        self.stop = stop
        self.engine = app.engine()
        self.shared = postgres.is_postgres(self.engine)
        self.db = DbTimer(self.engine)
        self.poller: Poller | None = None
        self.tasks = 0
        self.busy = 0.0
        self.started = time.monotonic()

    def close(self) -> None:
        if self.poller is not None:
            self.poller.close()

    def _poller(self) -> Poller:
        from monitor.run.pipeline import Poller

        if self.poller is None:
            with Session(self.engine) as session:
                tagger = self.app.tagger(session)
            self.poller = Poller(self.engine, self.settings, tagger, stop=self.stop)
        return self.poller

    @contextmanager
    def lease(self, feed_id: int) -> Iterator[bool]:
        if self.shared:
            with postgres.feed_lease(self.engine, feed_id) as got:
                yield got
            return
        # SQLite has one writer anyway: workers on it take turns under the poll lock.
        timeout = self.settings.queue.time_limit_minutes * 60
        with poll_lock(self.settings.lock_file, timeout):
            yield True

    def _feed(self, name: str) -> Feed | None:
        with Session(self.engine) as session:
            return session.exec(select(Feed).where(Feed.name == name)).first()

    def poll_feed(self, name: str, queued_at: str) -> None:
        """The task: poll one feed, unless another worker has it or it was polled since."""
        t0, db0 = time.monotonic(), self.db.seconds
        queued = datetime.fromisoformat(queued_at)
        feed = self._feed(name)
        if feed is None or feed.id is None or self.settings.feed(name) is None:
            log.warning("task for unknown feed=%s dropped", name)
            return
        with self.lease(feed.id) as got:
            if not got:
                log.info("feed=%s is being polled by another worker: task dropped", name)
                return
            if _polled_since(self._feed(name), queued):
                log.info("feed=%s was polled since it was queued: task dropped", name)
                return
            stats = self._poller().poll([name], everything=True)
            if self.stop.is_set() and not _polled_since(self._feed(name), queued):
                raise FeedInterrupted(f"worker stopping: feed {name} not finished")
        seconds = time.monotonic() - t0
        self.tasks += 1
        self.busy += seconds
        log.info(
            "task feed=%s articles=%d duplicates=%d embedded=%d failed=%d ms=%d db_ms=%d "
            "waited_ms=%d",
            name,
            stats.articles,
            stats.duplicates,
            stats.embedded,
            stats.failed,
            seconds * 1000,
            (self.db.seconds - db0) * 1000,
            max(0.0, (utcnow() - queued).total_seconds() * 1000 - seconds * 1000),
        )

    def summary(self) -> str:
        wall = time.monotonic() - self.started
        return (
            f"worker stopped tasks={self.tasks} wall_s={wall:.2f} busy_s={self.busy:.2f} "
            f"db_s={self.db.seconds:.2f} idle_s={max(0.0, wall - self.busy):.2f}"
        )


def _polled_since(feed: Feed | None, queued: datetime) -> bool:
    """Whether the feed finished a poll (success or recorded failure) after `queued`."""
    if feed is None:
        return False
    return any(t is not None and t >= queued for t in (feed.last_success, feed.last_error_at))


def run_worker(app: AppContext) -> None:
    """One worker process: consume feed tasks until SIGTERM/SIGINT, then finish the task in
    flight (or hand it back) and exit."""
    import dramatiq

    parent = named_parent(WORKER_PARENT_ENV)
    if parent is not None:  # started by `monitor worker --processes N`: die with it
        die_with_parent(parent)
    logging.getLogger("dramatiq").setLevel(logging.WARNING)
    queue = app.settings.queue
    broker = make_broker(queue)
    stop = threading.Event()
    feeds = FeedWorker(app, stop)
    dramatiq.actor(
        broker=broker,
        actor_name=ACTOR,
        queue_name=QUEUE,
        max_retries=queue.max_retries,
        min_backoff=1_000,
        max_backoff=300_000,
        time_limit=int(queue.time_limit_minutes * 60_000),
    )(feeds.poll_feed)
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=1000)
    worker.queue_prefetch = 1  # hold no task another idle worker could be running

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received signal %d: finishing the task in flight, then stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    worker.start()
    log.info("worker started pid=%d broker=%s", os.getpid(), redact(queue.broker_url))
    try:
        while not stop.wait(1.0):
            pass
    finally:
        worker.stop(timeout=int(queue.time_limit_minutes * 60_000))
        feeds.close()
        log.info("%s", feeds.summary())


def run_workers(app: AppContext, processes: int) -> None:
    """`monitor worker --processes N`: N worker processes, restarted if one dies; SIGTERM or
    SIGINT is passed on to all of them."""
    if processes <= 1:
        run_worker(app)
        return
    command = [sys.executable, "-m", "monitor", "--config", str(app.settings.path), "worker"]
    stopping = threading.Event()

    env = {**os.environ, WORKER_PARENT_ENV: str(os.getpid())}  # they die with us (run_worker)

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(command, env=env)

    children = [start() for _ in range(processes)]

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stopping.set()
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("started %d worker processes", processes)
    while not stopping.is_set():
        for i, child in enumerate(children):
            code = child.poll()
            if code is not None and not stopping.is_set():
                log.warning("worker pid=%d exited with %d: starting another", child.pid, code)
                time.sleep(1.0)
                children[i] = start()
        stopping.wait(1.0)
    for child in children:
        child.wait()
