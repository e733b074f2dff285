"""`monitor run`: APScheduler 3 with a polling job and the daily digest job.

The poll job ticks every minute and polls the feeds whose `next_check` is due, under the
same lock as `monitor poll`, so cron and the daemon can never poll at once. The digest job
is a cron trigger in the digest time zone; a digest time that passed while the daemon was
down is caught up once at start (sending is idempotent per day, so it is never doubled).
SIGTERM/SIGINT set a stop flag: the poller stops taking new items, the item in flight is
committed or rolled back, and the process exits 0.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import date, datetime, timedelta
from types import FrameType
from typing import Any

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlmodel import Session, select

from monitor.cli.context import AppContext
from monitor.errors import LockedError, MonitorError
from monitor.lock import poll_lock
from monitor.models import Digest
from monitor.pipeline import Poller

log = logging.getLogger("monitor.daemon")
POLL_TICK_SECONDS = 60.0


def digest_due_at_start(
    now_local: datetime, hour: int, minute: int, sent_days: set[str]
) -> date | None:
    """The day whose digest should be sent now because its time passed while we were down."""
    today_time = now_local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if now_local < today_time:
        return None  # today's digest time is still ahead: the cron trigger will send it
    day = now_local.date() - timedelta(days=1)
    return None if day.isoformat() in sent_days else day


class Daemon:
    def __init__(self, app: AppContext, tick: float = POLL_TICK_SECONDS) -> None:
        self.app = app
        self.settings = app.settings
        self.engine = app.engine()
        self.stop = threading.Event()
        self.tick = tick
        self.scheduler = BlockingScheduler(timezone=self.settings.zone)
        self.poller: Poller | None = None
        self.busy = threading.Lock()  # held while a poll cycle runs

    def poll_job(self) -> None:
        if self.stop.is_set():
            return
        try:
            with self.busy, poll_lock(self.settings.lock_file, 0.0):
                if self.poller is None:
                    with Session(self.engine) as session:
                        tagger = self.app.tagger(session)
                    self.poller = Poller(self.engine, self.settings, tagger, stop=self.stop)
                stats = self.poller.poll()
            if stats.feeds:
                log.info(
                    "poll cycle feeds=%d failed=%d articles=%d duplicates=%d",
                    stats.feeds,
                    stats.failed,
                    stats.articles,
                    stats.duplicates,
                )
        except LockedError as exc:
            log.info("%s", exc)
        except MonitorError as exc:
            log.error("poll cycle failed: %s", exc)
        except Exception:
            log.exception("poll cycle crashed; the next tick retries")

    def digest_job(self, day: date | None = None) -> None:
        from monitor.digest import send_daily_digest

        if self.stop.is_set():
            return
        try:
            state = send_daily_digest(self.engine, self.settings.digest, self.settings.zone, day)
            log.info("digest day=%s state=%s", day or "yesterday", state)
        except MonitorError as exc:
            log.error("digest failed: %s", exc)
        except Exception:
            log.exception("digest job crashed")

    def _sent_days(self) -> set[str]:
        with Session(self.engine) as session:
            return set(session.exec(select(Digest.day).where(Digest.state == "sent")).all())

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        log.info("received signal %d: finishing the item in flight, then stopping", signum)
        self.stop.set()
        self.scheduler.shutdown(wait=False)

    def start(self) -> None:
        hour, minute = (int(x) for x in self.settings.digest.time.split(":"))
        common: dict[str, Any] = {"max_instances": 1, "coalesce": True}
        now = datetime.now(self.settings.zone)
        self.scheduler.add_job(
            self.poll_job,
            IntervalTrigger(seconds=self.tick),
            id="poll",
            next_run_time=now,
            misfire_grace_time=int(self.tick),
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
            self.scheduler.add_job(
                self.digest_job, args=[missed], id="digest-catch-up", next_run_time=now, **common
            )
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        log.info(
            "daemon started: %d feed(s), poll tick %gs, digest at %s %s",
            len(self.settings.feeds),
            self.tick,
            self.settings.digest.time,
            self.settings.digest.timezone,
        )
        try:
            self.scheduler.start()
        finally:
            self.stop.set()
            with self.busy:  # let the cycle in flight commit or roll back its item
                if self.poller is not None:
                    self.poller.close()
            log.info("daemon stopped")


def run_daemon(app: AppContext) -> None:
    Daemon(app).start()
