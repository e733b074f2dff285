"""A feed's fetch state after a poll: caching validators, schedule, failure record. Pure: it
changes a `Feed` row in memory; the poller decides when to commit."""

from __future__ import annotations

from datetime import datetime

from monitor.config.sections import ScheduleSettings
from monitor.errors import FetchError, MonitorError, NotAFeedError
from monitor.feeds import schedule
from monitor.feeds.parse import ParsedFeed
from monitor.net.fetch import Response
from monitor.store.models import Feed


def mark_success(
    feed: Feed,
    cfg: ScheduleSettings,
    now: datetime,
    resp: Response | None,
    parsed: ParsedFeed | None,
    configured: float | None,
) -> None:
    """Store the validators, reset the failure record, and schedule the next check."""
    if resp is not None and not resp.not_modified:
        feed.etag = resp.headers.get("etag")
        feed.last_modified = resp.headers.get("last-modified")
    if parsed is not None:
        published = [e.published for e in parsed.entries]
        interval = schedule.adaptive_interval(cfg, published, now, configured)
    else:  # 304: the feed's publishing rate is unknown this time, keep the last estimate
        interval = feed.interval_minutes or configured or cfg.interval_minutes
    asked = schedule.asked_minutes(
        resp.headers if resp else {}, parsed.ttl_minutes if parsed else None, now
    )
    feed.interval_minutes = interval
    feed.next_check = schedule.next_after_success(cfg, now, interval, asked)
    feed.last_success = now
    feed.last_error = None
    feed.failing_since = None
    feed.consecutive_failures = 0
    feed.failure_score = 0.0


def mark_failure(feed: Feed, cfg: ScheduleSettings, now: datetime, exc: MonitorError) -> str:
    """Record the failure and back off (hard errors weigh more); return the message."""
    hard = isinstance(exc, NotAFeedError) or (isinstance(exc, FetchError) and exc.hard)
    message = exc.message if isinstance(exc, FetchError) else str(exc)
    retry = exc.retry_after if isinstance(exc, FetchError) else None
    feed.last_error = message[:1000]
    feed.last_error_at = now
    feed.failing_since = feed.failing_since or now
    feed.consecutive_failures += 1
    feed.failure_score += schedule.HARD_FAILURE if hard else schedule.SOFT_FAILURE
    feed.next_check = schedule.next_after_failure(
        cfg, now, feed.failure_score, feed.consecutive_failures, retry
    )
    return message
