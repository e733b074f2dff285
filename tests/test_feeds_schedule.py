"""The scheduling arithmetic (monitor.feeds.schedule) and per-host politeness (HostLimiter)."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from monitor.config.sections import ScheduleSettings
from monitor.feeds import schedule
from monitor.feeds.parse import parse_feed
from monitor.net.fetch import HostLimiter, parse_retry_after

NOW = datetime(2025, 3, 5, 12, 0, tzinfo=UTC)
PLAIN = ScheduleSettings(jitter=0.0)  # interval 30, clamp [10, 360], caps 24 h / 72 h after 20


def minutes_after(when: datetime) -> float:
    return (when - NOW).total_seconds() / 60.0


def rss(channel_extra: str) -> bytes:
    return f"""<?xml version="1.0"?>
<rss version="2.0" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/">
<channel><title>Example</title><link>https://example.org/</link>{channel_extra}
<item><title>One</title><link>https://example.org/1</link></item>
</channel></rss>""".encode()


# -- adaptive interval ----------------------------------------------------------------------


def test_adaptive_interval_is_a_week_divided_by_recent_entries() -> None:
    published = [NOW - timedelta(hours=6 * i) for i in range(28)]  # 28 in the last week
    assert schedule.adaptive_interval(PLAIN, published, NOW) == pytest.approx(7 * 24 * 60 / 28)


def test_adaptive_interval_ignores_old_entries() -> None:
    recent = [NOW - timedelta(days=1), NOW - timedelta(days=2)]
    old = [NOW - timedelta(days=30 + i) for i in range(50)]
    assert schedule.adaptive_interval(PLAIN, recent + old, NOW) == pytest.approx(360.0)
    # 2 a week would be 5040 minutes: clamped to the maximum; 1500 would be 6.7: the minimum.
    busy = [NOW - timedelta(minutes=5 * i) for i in range(1500)]
    assert schedule.adaptive_interval(PLAIN, busy, NOW) == 10.0


def test_adaptive_interval_clamps_to_bounds() -> None:
    settings = ScheduleSettings(min_interval_minutes=60.0, max_interval_minutes=120.0)
    every_minute = [NOW - timedelta(minutes=i) for i in range(500)]
    assert schedule.adaptive_interval(settings, every_minute, NOW) == 60.0
    one = [NOW - timedelta(days=3)]
    assert schedule.adaptive_interval(settings, one, NOW) == 120.0


def test_adaptive_interval_without_dated_entries_keeps_the_configured_interval() -> None:
    assert schedule.adaptive_interval(PLAIN, [None, None], NOW) == 30.0
    assert schedule.adaptive_interval(PLAIN, [], NOW) == 30.0
    assert schedule.adaptive_interval(PLAIN, [None], NOW, configured=45.0) == 45.0


def test_adaptive_interval_with_only_stale_entries_is_the_maximum() -> None:
    stale = [NOW - timedelta(days=40), NOW - timedelta(days=90)]
    assert schedule.adaptive_interval(PLAIN, stale, NOW) == 360.0


# -- failures -------------------------------------------------------------------------------


def test_backoff_is_linear_in_the_failure_score() -> None:
    one, two, three = (schedule.backoff_minutes(PLAIN, s, 1) for s in (1.0, 2.0, 3.0))
    assert two - one == pytest.approx(three - two) and two > one > PLAIN.interval_minutes


def test_hard_failures_back_off_further_than_soft_ones() -> None:
    assert schedule.HARD_FAILURE > schedule.SOFT_FAILURE
    hard = schedule.next_after_failure(PLAIN, NOW, schedule.HARD_FAILURE, 1)
    soft = schedule.next_after_failure(PLAIN, NOW, schedule.SOFT_FAILURE, 1)
    assert hard > soft > NOW


def test_backoff_is_capped_at_a_day_then_at_the_longer_cap() -> None:
    huge = 10_000.0
    assert schedule.backoff_minutes(PLAIN, huge, 5) == 24 * 60
    assert schedule.backoff_minutes(PLAIN, huge, PLAIN.long_backoff_after - 1) == 24 * 60
    assert schedule.backoff_minutes(PLAIN, huge, PLAIN.long_backoff_after) == 72 * 60
    # Below the caps the back-off is the plain linear value.
    assert schedule.backoff_minutes(PLAIN, 3.0, 30) == PLAIN.interval_minutes * 4


def test_jitter_never_pushes_a_failing_feed_past_the_cap() -> None:
    jittery = ScheduleSettings(jitter=0.5)
    for seed in range(50):
        when = schedule.next_after_failure(jittery, NOW, 10_000.0, 3, rng=random.Random(seed))
        assert 0 < minutes_after(when) <= 24 * 60
    # A failing feed is never forgotten: there is always a next check.
    assert schedule.next_after_failure(PLAIN, NOW, 1e9, 10**6) <= NOW + timedelta(hours=72)


def test_retry_after_is_honoured_on_failure_and_capped_at_a_day() -> None:
    when = schedule.next_after_failure(PLAIN, NOW, 1.0, 1, retry_after=3 * 3600)
    assert minutes_after(when) == pytest.approx(180.0)
    shorter = schedule.next_after_failure(PLAIN, NOW, 1.0, 1, retry_after=5)
    assert minutes_after(shorter) == pytest.approx(60.0)  # the back-off is longer: it wins
    week = schedule.next_after_failure(PLAIN, NOW, 1.0, 1, retry_after=7 * 86400)
    assert minutes_after(week) == pytest.approx(24 * 60)


# -- Retry-After header ---------------------------------------------------------------------


def test_parse_retry_after_seconds_and_http_date() -> None:
    now = NOW.timestamp()
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after(" 7 ", now) == 7.0
    later = format_datetime(NOW + timedelta(minutes=10), usegmt=True)
    assert parse_retry_after(later, now) == pytest.approx(600.0)
    past = format_datetime(NOW - timedelta(minutes=10), usegmt=True)
    assert parse_retry_after(past, now) == 0.0
    for bad in (None, "", "soon", "-5", "1.5e3"):
        assert parse_retry_after(bad, now) is None


def test_http_date_retry_after_schedules_the_next_check() -> None:
    header = format_datetime(NOW + timedelta(hours=2), usegmt=True)
    seconds = parse_retry_after(header, NOW.timestamp())
    when = schedule.next_after_failure(PLAIN, NOW, 1.0, 1, retry_after=seconds)
    assert minutes_after(when) == pytest.approx(120.0)


# -- what the feed asks ---------------------------------------------------------------------


def test_rss_ttl_from_a_parsed_feed() -> None:
    parsed = parse_feed(rss("<ttl>90</ttl>"))
    assert parsed.ttl_minutes == 90.0
    asked = schedule.asked_minutes({}, parsed.ttl_minutes, NOW)
    assert asked == 90.0
    when = schedule.next_after_success(PLAIN, NOW, 30.0, asked)
    assert minutes_after(when) == pytest.approx(90.0)


def test_sy_update_period_from_a_parsed_feed() -> None:
    daily_twice = rss(
        "<sy:updatePeriod>daily</sy:updatePeriod><sy:updateFrequency>2</sy:updateFrequency>"
    )
    assert parse_feed(daily_twice).ttl_minutes == 720.0
    hourly = rss("<sy:updatePeriod>hourly</sy:updatePeriod>")
    assert parse_feed(hourly).ttl_minutes == 60.0
    assert parse_feed(rss("")).ttl_minutes is None


def test_a_feed_asking_for_a_long_wait_is_capped_at_a_day() -> None:
    weekly = parse_feed(rss("<sy:updatePeriod>weekly</sy:updatePeriod>"))
    assert schedule.asked_minutes({}, weekly.ttl_minutes, NOW) == 24 * 60
    assert schedule.asked_minutes({"cache-control": "max-age=999999"}, None, NOW) == 24 * 60


def test_cache_control_max_age() -> None:
    headers = {"cache-control": "public, max-age=3600"}
    assert schedule.asked_minutes(headers, None, NOW) == 60.0
    assert schedule.asked_minutes({"cache-control": "s-maxage=600"}, None, NOW) is None
    # The longest ask wins: never earlier than the feed or the server asks.
    assert schedule.asked_minutes(headers, 90.0, NOW) == 90.0
    assert schedule.asked_minutes(headers, 15.0, NOW) == 60.0


def test_expires_header() -> None:
    expires = format_datetime(NOW + timedelta(minutes=45), usegmt=True)
    assert schedule.asked_minutes({"expires": expires}, None, NOW) == pytest.approx(45.0)
    past = format_datetime(NOW - timedelta(hours=1), usegmt=True)
    assert schedule.asked_minutes({"expires": past}, None, NOW) == 0.0
    assert schedule.asked_minutes({"expires": "0"}, None, NOW) is None  # invalid: ignored
    # max-age takes precedence over Expires (RFC 9111).
    both = {"cache-control": "max-age=60", "expires": expires}
    assert schedule.asked_minutes(both, None, NOW) == 1.0


def test_nothing_asked() -> None:
    assert schedule.asked_minutes({}, None, NOW) is None
    when = schedule.next_after_success(PLAIN, NOW, 30.0, None)
    assert minutes_after(when) == pytest.approx(30.0)


def test_the_adaptive_interval_wins_when_longer_than_the_ask() -> None:
    when = schedule.next_after_success(PLAIN, NOW, 120.0, 60.0)
    assert minutes_after(when) == pytest.approx(120.0)


# -- jitter ---------------------------------------------------------------------------------


def test_jitter_bounds_with_a_seeded_random() -> None:
    rng = random.Random(42)
    values = [schedule.jittered(100.0, 0.1, rng) for _ in range(2000)]
    assert all(90.0 <= v <= 110.0 for v in values)
    assert min(values) < 92.0 and max(values) > 108.0  # it really spreads
    again = random.Random(42)
    assert [schedule.jittered(100.0, 0.1, again) for _ in range(5)] == values[:5]
    assert schedule.jittered(100.0, 0.0, rng) == 100.0


def test_jitter_spreads_next_checks_but_never_before_the_ask() -> None:
    jittery = ScheduleSettings(jitter=0.2)
    rng = random.Random(7)
    times = {schedule.next_after_success(jittery, NOW, 60.0, None, rng) for _ in range(20)}
    assert len(times) > 1
    assert all(48.0 <= minutes_after(t) <= 72.0 for t in times)
    for _ in range(50):
        asked = schedule.next_after_success(jittery, NOW, 60.0, 60.0, rng)
        assert minutes_after(asked) >= 60.0


# -- per-host politeness --------------------------------------------------------------------


def _starts(limiter: HostLimiter, hosts: list[str]) -> dict[str, list[float]]:
    starts: dict[str, list[float]] = {h: [] for h in hosts}
    lock = threading.Lock()

    def hit(host: str) -> None:
        with limiter.slot(host), lock:
            starts[host].append(time.monotonic())

    threads = [threading.Thread(target=hit, args=(h,)) for h in hosts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return starts


def test_host_limiter_spaces_requests_to_one_host() -> None:
    limiter = HostLimiter(concurrency=4, delay=0.4)
    starts = _starts(limiter, ["a.example", "a.example"])["a.example"]
    assert len(starts) == 2
    assert abs(starts[1] - starts[0]) >= 0.35


def test_host_limiter_does_not_delay_other_hosts() -> None:
    limiter = HostLimiter(concurrency=4, delay=2.0)
    begin = time.monotonic()
    starts = _starts(limiter, ["a.example", "b.example", "c.example"])
    assert all(len(v) == 1 for v in starts.values())
    assert max(v[0] for v in starts.values()) - begin < 1.0


def test_host_limiter_bounds_concurrency_per_host() -> None:
    limiter = HostLimiter(concurrency=2, delay=0.0)
    inside = peak = 0
    lock = threading.Lock()

    def hit() -> None:
        nonlocal inside, peak
        with limiter.slot("a.example"):
            with lock:
                inside += 1
                peak = max(peak, inside)
            time.sleep(0.1)
            with lock:
                inside -= 1

    threads = [threading.Thread(target=hit) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert peak == 2
