"""The daily digest: read a day (query), render it, wrap it (message), send it once (send)."""

from __future__ import annotations

from pathlib import Path

from monitor.digest.query import build_digest, day_bounds, default_day
from monitor.digest.render import RenderedDigest, render_digest
from monitor.digest.send import SendResult, deliver_digest, send_daily_digest

__all__ = [
    "RenderedDigest",
    "SendResult",
    "build_digest",
    "day_bounds",
    "default_day",
    "deliver_digest",
    "load_topic_names",
    "render_digest",
    "send_daily_digest",
]


def load_topic_names(path: Path) -> dict[str, str]:
    """Topic id -> display name in schema order; empty (ids shown as they are) when the schema
    cannot be read: a digest is still worth sending without pretty names."""
    from monitor.errors import ConfigError
    from monitor.topics.schema import load_topics

    try:
        return {topic.id: topic.name for topic in load_topics(path).topics}
    except ConfigError:
        return {}
