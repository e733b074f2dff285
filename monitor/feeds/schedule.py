"""When to poll a feed next: adaptive interval, what the feed asks, back-off. Pure arithmetic."""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from monitor.config.sections import ScheduleSettings

WEEK_MINUTES = 7 * 24 * 60.0
ASK_CAP_MINUTES = 24 * 60.0  # whatever a feed asks, we come back within a day
_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*(\d+)", re.IGNORECASE)

# Failure weights (after Media Cloud's feed scheduler): an error that will not fix itself
# (404, refused address, not a feed) pushes the next check further than a timeout or 5xx.
HARD_FAILURE = 2.0
SOFT_FAILURE = 1.0


def adaptive_interval(
    settings: ScheduleSettings,
    published: Iterable[datetime | None],
    now: datetime,
    configured: float | None = None,
) -> float:
    """Minutes until the next poll, from how often the feed really publishes.

    Miniflux's rule: a week divided by the entries published in the last week, clamped
    to [min, max]. A feed with no dated entries keeps the configured interval.
    """
    base = configured if configured is not None else settings.interval_minutes
    week_ago = now - timedelta(days=7)
    dated = [p for p in published if p is not None]
    if not dated:
        return base
    recent = sum(1 for p in dated if week_ago <= p <= now + timedelta(hours=1))
    interval = WEEK_MINUTES / recent if recent else settings.max_interval_minutes
    return min(settings.max_interval_minutes, max(settings.min_interval_minutes, interval))


def asked_minutes(
    headers: Mapping[str, str], ttl_minutes: float | None, now: datetime
) -> float | None:
    """The least time the feed or server asks us to wait (TTL, max-age, Expires), capped."""
    asks: list[float] = []
    if ttl_minutes:
        asks.append(ttl_minutes)
    cache = headers.get("cache-control", "")
    match = _MAX_AGE.search(cache)
    if match:
        asks.append(int(match.group(1)) / 60.0)
    elif headers.get("expires"):
        try:
            expires = parsedate_to_datetime(headers["expires"])
            if expires.tzinfo is not None:
                asks.append(max(0.0, (expires - now).total_seconds() / 60.0))
        except (TypeError, ValueError, IndexError):
            pass
    if not asks:
        return None
    return min(max(asks), ASK_CAP_MINUTES)


def jittered(minutes: float, jitter: float, rng: random.Random | None = None) -> float:
    """Spread feeds so they do not move in lockstep: +/- `jitter` share of the interval."""
    r = rng or random
    return minutes * (1.0 + r.uniform(-jitter, jitter))


def next_after_success(
    settings: ScheduleSettings,
    now: datetime,
    interval: float,
    asked: float | None,
    rng: random.Random | None = None,
) -> datetime:
    """Never earlier than the feed asks; otherwise the adaptive interval with jitter."""
    minutes = jittered(interval, settings.jitter, rng)
    if asked is not None:
        minutes = max(minutes, asked)
    return now + timedelta(minutes=minutes)


def backoff_cap_minutes(settings: ScheduleSettings, failures: int) -> float:
    """A day, rising to the longer cap once a feed has failed many times in a row."""
    hours = (
        settings.long_backoff_hours
        if failures >= settings.long_backoff_after
        else settings.max_backoff_hours
    )
    return hours * 60.0


def backoff_minutes(settings: ScheduleSettings, score: float, failures: int) -> float:
    """Linear in the failure score, capped (see `backoff_cap_minutes`)."""
    cap = backoff_cap_minutes(settings, failures)
    return min(settings.interval_minutes * (1.0 + score), cap)


def next_after_failure(
    settings: ScheduleSettings,
    now: datetime,
    score: float,
    failures: int,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> datetime:
    """A failing feed backs off but always gets a next check: it is never forgotten."""
    # Jitter spreads failing feeds too, but never past the cap: "at most a day" means it.
    minutes = min(
        jittered(backoff_minutes(settings, score, failures), settings.jitter, rng),
        backoff_cap_minutes(settings, failures),
    )
    if retry_after is not None:
        minutes = max(minutes, min(retry_after / 60.0, ASK_CAP_MINUTES))
    return now + timedelta(minutes=minutes)
