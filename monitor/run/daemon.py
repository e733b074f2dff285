"""`monitor run`: APScheduler 3 with a polling job and the daily digest job.

The poll job ticks every minute and polls the feeds whose `next_check` is due, under the
same lock as `monitor poll`, so cron and the daemon can never poll at once. The digest job
is a cron trigger in the digest time zone; a digest time that passed while the daemon was
down is caught up once at start (sending is idempotent per day, so it is never doubled).
SIGTERM/SIGINT set a stop flag: the poller stops taking new items, the item in flight is
committed or rolled back, and the process exits 0.
"""

from __future__ import annotations

import atexit
import logging
import signal
import threading
import time
from datetime import date, datetime, timedelta
from types import FrameType
from typing import Any

from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlmodel import Session, select

from monitor.errors import LockedError, MonitorError
from monitor.run.context import AppContext
from monitor.run.lock import poll_lock
from monitor.run.pipeline import Poller
from monitor.store.models import Digest

log = logging.getLogger("monitor.daemon")
MIN_TICK_SECONDS = 1.0


class _QuietOverlap(logging.Filter):
    """A poll cycle longer than the tick is normal: APScheduler's "skipped: maximum number
    of running instances reached" warning every tick would only bury the real events."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances" not in record.getMessage()


def quiet_scheduler_logs() -> None:
    """Logs are one line per event: drop APScheduler's per-tick chatter, keep its warnings."""
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    scheduler_log = logging.getLogger("apscheduler.scheduler")
    if not any(isinstance(f, _QuietOverlap) for f in scheduler_log.filters):
        scheduler_log.addFilter(_QuietOverlap())


def digest_due_at_start(
    now_local: datetime, hour: int, minute: int, sent_days: set[str]
) -> date | None:
    """The day whose digest should be sent now because its time passed while we were down.

    That is the digest of the most recent digest time before now: today's (for yesterday)
    once today's time has passed, else yesterday's (for the day before), which the cron
    trigger will never fire again. Only the latest is caught up, and only if not yet sent.
    """
    today_time = now_local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    last_time = today_time if now_local >= today_time else today_time - timedelta(days=1)
    day = last_time.date() - timedelta(days=1)
    return None if day.isoformat() in sent_days else day


class Daemon:
    def __init__(self, app: AppContext, tick: float | None = None) -> None:
        self.app = app
        self.settings = app.settings
        self.engine = app.engine()
        self.stop = threading.Event()
        # A tick under a second would only burn CPU on the "what is due" query.
        self.tick = max(MIN_TICK_SECONDS, tick or self.settings.schedule.tick_seconds)
        self.scheduler = BlockingScheduler(timezone=self.settings.zone)
        self.poller: Poller | None = None
        self.stopped = threading.Event()  # set once the scheduler loop has ended
        self.busy = threading.Lock()  # held while a poll cycle runs
        self.crashes = 0  # poll cycles in a row that ended in an error
        self.paused_until = 0.0  # time.monotonic() before which ticks are skipped

    def poll_job(self) -> None:
        if self.stop.is_set() or time.monotonic() < self.paused_until:
            return
        try:
            with self.busy:
                if self.stop.is_set():  # stopped while this job waited for its turn
                    return
                self.cycle()
            self.crashes = 0
        except LockedError as exc:
            log.info("%s", exc)
        except MonitorError as exc:
            log.error("poll cycle failed: %s", exc)
            self._pause_after_crash()
        except Exception as exc:
            if self.stop.is_set():
                # e.g. SIGTERM to the whole unit killed the extraction workers: nothing was
                # stored for the items they held, and we are stopping anyway.
                log.warning("poll cycle interrupted while stopping: %r", exc)
                return
            log.exception("poll cycle crashed")
            self._pause_after_crash()

    def cycle(self) -> None:
        """One tick's work: poll the due feeds here (`monitor.run.worker.Scheduler` queues them
        for the workers instead)."""
        with poll_lock(self.settings.lock_file, 0.0):
            if self.poller is None:
                with Session(self.engine) as session:
                    tagger = self.app.tagger(session)
                self.poller = Poller(self.engine, self.settings, tagger, stop=self.stop)
            stats = self.poller.poll()
        if stats.feeds:
            log.info(
                "poll cycle feeds=%d failed=%d articles=%d duplicates=%d embedded=%d",
                stats.feeds,
                stats.failed,
                stats.articles,
                stats.duplicates,
                stats.embedded,
            )

    def _pause_after_crash(self) -> None:
        # The poller may be what broke (an extraction worker killed by the OOM killer leaves
        # its process pool unusable for good): the next cycle builds a fresh one.
        with self.busy:
            if self.poller is not None:
                self.poller.close()
                self.poller = None
        # A crashed cycle leaves its feeds due: retrying every tick would fetch the same
        # feeds and pages again and again. Back off, doubling up to the polling interval.
        self.crashes += 1
        pause = min(self.tick * 2.0**self.crashes, self.settings.schedule.interval_minutes * 60.0)
        self.paused_until = time.monotonic() + pause
        log.warning("polling paused for %.0fs after %d failed cycle(s)", pause, self.crashes)

    def digest_job(self, day: date | None = None) -> None:
        from monitor.digest import load_topic_names, send_daily_digest

        if self.stop.is_set():
            return
        try:
            names = load_topic_names(self.settings.topics_file)
            state = send_daily_digest(
                self.engine, self.settings.digest, self.settings.zone, day, topic_names=names
            )
            log.info("digest day=%s state=%s", day or "yesterday", state)
        except MonitorError as exc:
            log.error("digest failed: %s", exc)
        except Exception:
            log.exception("digest job crashed")

    def _sent_days(self) -> set[str]:
        with Session(self.engine) as session:
            return set(session.exec(select(Digest.day).where(Digest.state == "sent")).all())

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self.stop.is_set():
            log.info("received signal %d again: already stopping", signum)
            return
        log.info("received signal %d: finishing the item in flight, then stopping", signum)
        self.stop.set()
        # Not shutdown() here: the handler runs on the main thread, which may be inside the
        # scheduler holding its (non-reentrant) locks; a helper thread cannot deadlock on them.
        threading.Thread(target=self._shutdown, name="shutdown", daemon=True).start()

    def _shutdown(self) -> None:
        # A signal that came before the scheduler was running: retry until start() has set it
        # running (start() itself does not start once the stop flag is set).
        for _ in range(200):
            try:
                self.scheduler.shutdown(wait=False)
                return
            except SchedulerNotRunningError:
                if self.stopped.is_set():
                    return
                time.sleep(0.05)

    def start(self) -> None:
        quiet_scheduler_logs()
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        hour, minute = (int(x) for x in self.settings.digest.time.split(":"))
        common: dict[str, Any] = {"max_instances": 1, "coalesce": True}
        now = datetime.now(self.settings.zone)
        self.scheduler.add_job(
            self.poll_job,
            IntervalTrigger(seconds=self.tick),
            id="poll",
            next_run_time=now,
            misfire_grace_time=max(1, int(self.tick)),
            **common,
        )
        # A digest delayed by a busy or suspended machine is still sent the same day.
        self.scheduler.add_job(
            self.digest_job,
            CronTrigger(hour=hour, minute=minute, timezone=self.settings.zone),
            id="digest",
            misfire_grace_time=12 * 3600,
            **common,
        )
        missed = digest_due_at_start(now, hour, minute, self._sent_days())
        if missed is not None and self.settings.digest.recipients:
            # No grace limit: a slow start must not make the scheduler skip the catch-up.
            self.scheduler.add_job(
                self.digest_job,
                args=[missed],
                id="digest-catch-up",
                next_run_time=now,
                misfire_grace_time=None,
                **common,
            )
        log.info(
            "daemon started: %d feed(s), poll tick %gs, digest at %s %s",
            len(self.settings.feeds),
            self.tick,
            self.settings.digest.time,
            self.settings.digest.timezone,
        )
        try:
            if not self.stop.is_set():
                self.scheduler.start()
        finally:
            self.stopped.set()
            self.stop.set()
            with self.busy:  # let the cycle in flight commit or roll back its item
                if self.poller is not None:
                    self.poller.close()
            log.info("daemon stopped")
            # After the interpreter has joined the last threads it resets our handlers to the
            # defaults: a second Ctrl-C/SIGTERM in that last instant would turn a clean stop
            # into "killed by signal". (atexit runs after the joins, so a hung join can
            # still be interrupted.)
            atexit.register(_ignore_stop_signals)


def _ignore_stop_signals() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_daemon(app: AppContext) -> None:
    Daemon(app).start()
