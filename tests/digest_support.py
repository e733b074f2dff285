"""Shared fixtures of the digest tests: a migrated SQLite file with one fixed day, and a real
SMTP server (aiosmtpd) on 127.0.0.1 whose answers a test can script."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiosmtpd.controller import Controller
from sqlalchemy.engine import Engine

from monitor.config.sections import DigestSettings
from monitor.store.db import make_engine, migrate, session_scope
from monitor.store.models import Article, ArticleTopic, Feed, SeedDocument, SeedSection

ZONE = ZoneInfo("Europe/Berlin")
DAY = date(2025, 3, 4)  # CET, UTC+1: the local day is 2025-03-03T23:00Z .. 2025-03-04T23:00Z
NOW = datetime(2025, 3, 5, 6, 0, tzinfo=UTC)  # 07:00 in Berlin the morning after
# In schema order (a subset of seeds/topics.toml, fixed here so golden files stay put).
TOPICS = {
    "deepseek": "DeepSeek",
    "baidu": "Baidu",
    "nvidia": "Nvidia",
    "openai": "OpenAI",
    "open-source-ai": "Open-source AI",
    "ai-stocks": "AI stocks",
}
HOSTILE_TITLE = (
    '<script>alert("t")</script> Evil\r\nBcc: victim@example.com =?utf-8?q?x=0D=0AX:_y?='
)


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 3, day, hour, minute, tzinfo=UTC)


def digest_settings(**changes: Any) -> DigestSettings:
    base = DigestSettings(
        timezone="Europe/Berlin",
        sender="Monitor <monitor@example.org>",
        recipients=("analyst@example.com",),
        smtp_url="smtp://127.0.0.1:1",
        max_attempts=3,
        retry_wait=0.01,
    )
    return replace(base, **changes)


def make_db(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'monitor.db'}")
    migrate(engine)
    return engine


def article(n: int, feed: Feed, fetched: datetime, **fields: Any) -> Article:
    fields.setdefault("url", f"https://{feed.name}.example/{n}")
    fields.setdefault("title", f"Story {n}")
    fields.setdefault("published", fetched)
    return Article(id=n, feed_id=feed.id, canonical_url=fields["url"] + f"#{n}", fetched=fetched,
                   **fields)  # fmt: skip


def populate(engine: Engine) -> None:
    """The fixed day of the golden files; each article says in its title why it is there."""
    with session_scope(engine) as s:
        reuters = Feed(id=1, name="reuters", url="https://reuters.example/feed", title="Reuters")
        cnbc = Feed(id=2, name="cnbc", url="https://cnbc.example/rss", title="CNBC")
        verge = Feed(id=3, name="verge", url="https://verge.example/rss", title="The Verge")
        flaky = Feed(id=4, name="flaky-blog", url="https://flaky.example/feed",
                     failing_since=utc(2, 10), consecutive_failures=7,
                     last_error="HTTP 503 <b>Service</b>\nUnavailable")  # fmt: skip
        new_failure = Feed(
            id=5,
            name="briefly-down",
            url="https://down.example/feed",
            failing_since=utc(5, 4),
            consecutive_failures=1,
            last_error="timeout",
        )
        s.add_all([reuters, cnbc, verge, flaky, new_failure])
        s.add(SeedDocument(id=1, path="000.txt", sha256="0" * 64, title="Seed"))
        s.flush()
        s.add(SeedSection(id=1, document_id=1, position=0, title="Seed story", text="..."))
        s.flush()
        rows = [
            article(1, reuters, utc(4, 8, 10), title="DeepSeek releases R2 with open weights",
                    site_name="Reuters", story_id=1,
                    summary="<p>DeepSeek released R2 on Tuesday. The model's weights are under "
                    "the MIT licence. Analysts called it a <b>big step</b> for open models. "
                    "A fourth sentence that should not be shown.</p>"),
            article(2, cnbc, utc(4, 9, 0), title="DeepSeek's R2 is here", duplicate_kind="near",
                    duplicate_score=0.93, duplicate_of_id=1, story_id=1),
            article(3, verge, utc(4, 10, 0), title="R2, explained", duplicate_kind="same-story",
                    duplicate_score=0.81, duplicate_of_id=2),  # a duplicate of a duplicate
            article(4, reuters, utc(4, 11, 0), title="Reuters re-post of R2", site_name="Reuters",
                    duplicate_kind="exact", duplicate_score=1.0, duplicate_of_id=1, story_id=1),
            article(5, cnbc, utc(4, 12, 30), title="Nvidia shares fall 4% after export news",
                    summary="Nvidia stock fell in early trading. The drop followed new rules."),
            article(6, reuters, utc(3, 23, 30), title="Baidu unveils Ernie 5 (00:30 local)",
                    site_name="Reuters", published=utc(3, 22, 0),
                    text="Baidu on Tuesday unveiled Ernie 5, its newest model. It costs less. "
                    "More details were scarce. Another sentence."),
            article(7, verge, utc(4, 14, 0), title="Weekly gadget round-up (no topic)",
                    summary="Short."),
            article(8, cnbc, utc(4, 15, 0), title=HOSTILE_TITLE, url="JaVaScRiPt:alert(1)",
                    summary='<img src=x onerror=alert(1)>Hello <a href="javascript:alert(2)">'
                    "click</a> &lt;script&gt;alert(3)&lt;/script&gt; world."),
            article(9, verge, utc(4, 15, 30), title="Copy of the hostile one",
                    url="java\nscript:alert(4)", duplicate_kind="near", duplicate_of_id=8),
            article(10, reuters, utc(4, 16, 0), title="Seed-known story again",
                    duplicate_kind="same-story", duplicate_of_section_id=1),
            article(11, cnbc, utc(3, 12, 0), title="Yesterday's original"),
            article(12, verge, utc(4, 17, 0), title="Duplicate of yesterday's original",
                    duplicate_kind="near", duplicate_of_id=11, story_id=11),
            article(13, cnbc, utc(3, 22, 59), title="Too early (23:59 the day before)"),
            article(14, cnbc, utc(4, 23, 0), title="Too late (00:00 the day after)"),
            article(15, cnbc, utc(4, 13, 0),
                    title="DeepSeek's app tops the charts in 40 countries",
                    summary="International Trade Today is a service of Warren Communications "
                    "News.",  # boilerplate: the text's first real sentences are used instead
                    text="DeepSeek's App Tops the Charts in 40 Countries DeepSeek's chatbot was "
                    "the most downloaded free app in 40 countries on Tuesday, Sensor Tower said. "
                    "It added 12 million users in a week. A third sentence. A fourth one."),
            article(16, verge, utc(4, 13, 30),
                    title="深度求索发布新模型：开源大模型时代的竞争 - O",  # cut by its source
                    text="深度求索周二发布了新的开源模型。该公司表示，新模型的训练成本更低。"),
        ]  # fmt: skip
        s.add_all(rows)
        s.flush()
        s.add_all(
            [
                ArticleTopic(article_id=1, topic="deepseek", score=0.9),
                ArticleTopic(article_id=1, topic="open-source-ai", score=0.6),
                ArticleTopic(article_id=2, topic="deepseek", score=0.9),
                ArticleTopic(article_id=5, topic="nvidia", score=0.7),
                ArticleTopic(article_id=5, topic="ai-stocks", score=0.8),
                ArticleTopic(article_id=5, topic="us-china-ai-race", score=0.5),
                ArticleTopic(article_id=6, topic="baidu", score=0.95),
                ArticleTopic(article_id=8, topic="openai", score=0.5),
                ArticleTopic(article_id=15, topic="deepseek", score=0.8),
                ArticleTopic(article_id=16, topic="deepseek", score=0.7),
                ArticleTopic(article_id=16, topic="open-source-ai", score=0.6),
            ]
        )


def parse(data: bytes) -> EmailMessage:
    message = message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def parts(message: EmailMessage) -> tuple[str, str]:
    """(text, html) of a multipart/alternative digest."""
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return str(text.get_content()), str(html.get_content())


@dataclass
class Recorder:
    """aiosmtpd handler: answers DATA from `script` (then 250), keeps what it accepted."""

    script: list[str] = field(default_factory=list)
    attempts: list[bytes] = field(default_factory=list)  # every DATA received
    accepted: list[bytes] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data: bytes = envelope.original_content or envelope.content
        self.attempts.append(data)
        answer = self.script.pop(0) if self.script else "250 OK"
        if answer == "drop":  # hang up after taking the message, before answering
            server.transport.close()
            return "250 never seen"
        if answer.startswith("250"):
            self.accepted.append(data)
        return answer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def smtp_server(recorder: Recorder, **kwargs: Any) -> Iterator[int]:
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    try:
        yield int(controller.port)
    finally:
        controller.stop()
