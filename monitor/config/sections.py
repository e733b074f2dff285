"""The settings of each part of the program: frozen dataclasses whose defaults are the defaults.

`monitor.config.load` fills them from config.toml and the environment; the comment on each field
is its documentation (config.toml repeats it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class FetchSettings:
    # Sent with every request: say who we are and where to complain.
    user_agent: str = "monitor/0.1 (news-monitoring bot; +https://github.com/monitor-news/monitor)"
    connect_timeout: float = 10.0  # seconds to establish a connection
    read_timeout: float = 20.0  # seconds of silence before a read fails
    deadline: float = 60.0  # total seconds for one request, body included
    max_bytes: int = 10_000_000  # body size cap, applied after decompression
    max_redirects: int = 5
    concurrency: int = 16  # requests in flight over all hosts
    per_host_concurrency: int = 2  # requests in flight to one host
    per_host_delay: float = 1.0  # minimum seconds between two requests to one host
    allow_hosts: tuple[str, ...] = ()  # hosts/CIDRs exempt from the public-address rule
    # A page that fails for a reason that may pass (connect error, reset, timeout, 408, 425,
    # 429, 5xx) is tried again: first within the cycle, then on later cycles.
    page_retries: int = 2  # retries within the cycle, after page_retry_wait (doubling)
    page_retry_wait: float = 5.0  # seconds before the first in-cycle retry
    max_retry_after: float = 60.0  # a server's Retry-After is honoured up to this (seconds)
    page_max_attempts: int = 9  # requests for one page in all before it keeps the summary
    page_retry_minutes: float = 20.0  # first retry on a later cycle; doubles each time

    def __post_init__(self) -> None:
        if self.page_retries < 0 or self.page_max_attempts < 1:
            raise ValueError("page_retries must be >= 0 and page_max_attempts >= 1")


@dataclass(frozen=True)
class ExtractSettings:
    # "fast", "precision" or "default": trafilatura's trade-off (see README, measured).
    mode: str = "fast"
    min_text_chars: int = 250  # below this the feed's own summary is kept instead
    workers: int = 0  # extraction processes; 0 = one per CPU core


@dataclass(frozen=True)
class ScheduleSettings:
    interval_minutes: float = 30.0  # default polling interval of a feed
    min_interval_minutes: float = 10.0  # adaptive interval never goes below this
    max_interval_minutes: float = 360.0  # ... nor above this
    jitter: float = 0.1  # +/- share of the interval added at random
    max_backoff_hours: float = 24.0  # back-off cap for a failing feed
    long_backoff_hours: float = 72.0  # cap once a feed has failed `long_backoff_after` times
    long_backoff_after: int = 20
    lock_timeout: float = 0.0  # seconds `poll` waits for another run's lock (0 = exit at once)
    tick_seconds: float = 60.0  # how often the daemon looks for feeds that are due


@dataclass(frozen=True)
class DigestSettings:
    time: str = "07:00"  # local time of the daily digest (HH:MM)
    timezone: str = "UTC"  # IANA zone the digest day is cut in
    sender: str = ""  # From: (env MONITOR_DIGEST_FROM)
    recipients: tuple[str, ...] = ()  # To: (env MONITOR_DIGEST_TO, comma-separated)
    smtp_url: str = (
        "smtp://localhost:25"  # smtp://, smtp+starttls://, smtps:// (env MONITOR_SMTP_URL)
    )
    smtp_password: str = field(default="", repr=False)  # only from env MONITOR_SMTP_PASSWORD
    subject: str = "News digest for {date}"
    send_empty: bool = False  # send a short "nothing new" mail on an empty day
    failing_feed_hours: float = 24.0  # list feeds failing for longer than this
    max_attempts: int = 5  # transient SMTP failures retried this many times
    retry_wait: float = 30.0  # seconds before the first retry (doubles each time)
    max_per_topic: int = 10  # stories shown per topic, then "and N more" (0 = no limit)
    include_untagged: bool = False  # also list stories with no topic, under "Other"
    web_url: str = ""  # not a [digest] key: [web] base_url, where the digest links to


@dataclass(frozen=True)
class WebSettings:
    # `monitor serve`: the local web view (Datasette) and the Atom feeds.
    host: str = "127.0.0.1"  # address `monitor serve` binds to (loopback: this machine only)
    port: int = 8001
    # The web view's address as readers reach it, e.g. "http://news.example:8001"; when set,
    # the digest links topics and stories to it and the Atom feeds use it for their links.
    base_url: str = ""
    feed_entries: int = 50  # newest stories in each Atom feed


@dataclass(frozen=True)
class QueueSettings:
    # Only for `monitor run --scheduler-only` + `monitor worker` (see README, Scaling out).
    broker_url: str = "redis://localhost:6379/0"  # Redis for Dramatiq (env MONITOR_BROKER_URL)
    lease_minutes: float = 30.0  # a queued feed is not queued again for this long
    requeue_after_seconds: float = 60.0  # a silent worker's tasks go back to the queue after this
    time_limit_minutes: float = 30.0  # one feed task is abandoned (and retried) after this
    max_retries: int = 5  # a task that crashed is retried this many times, with back-off


@dataclass(frozen=True)
class FeedConfig:
    name: str
    url: str
    allow_private: bool = False  # may use a loopback/private address (self-hosted bridge)
    interval_minutes: float | None = None
    topic: str | None = None  # for search feeds: the topic they were built for


@dataclass(frozen=True)
class TaggingSettings:
    threshold: float = 0.5  # score (0-1) an article needs to get a topic
    thresholds: Mapping[str, float] = field(default_factory=dict)  # per-topic overrides
    title_weight: float = 2.5  # a phrase in the title counts this many body mentions
    lead_words: int = 60  # the opening words of the body, where the subject is named
    lead_weight: float = 1.5  # weight of a mention inside that opening
    ref_words: int = 250  # article length (words) at which evidence is not scaled
    length_exponent: float = 0.35  # 0 = no length normalisation, 1 = evidence per word
    scale: float = 5.0  # normalised evidence at which the score reaches 0.63
    passing_ratio: float = (
        0.3  # a company topic under this share of the leader's evidence is a passing mention
    )
    near_window: int = 8  # words either side searched for a phrase's `@lexicon` condition
    exclude_damping: float = 0.2  # weight of "tesla" once "Nikola Tesla" occurs in the article
    cause_weight: float = 2.5  # evidence for a company named as the cause of an AI-stock move
    lead_subject_words: int = 12  # title names no company: one named this early is the subject
    exemplar_weight: float = 1.0  # evidence added per unit of similarity above the floor
    exemplar_floor: float = 0.25  # cosine similarity to a seed section that counts at all
    max_topics: int = 6  # most topics one article gets
