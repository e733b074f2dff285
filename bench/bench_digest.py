"""Benchmark: build (and render) the digest of a day with `n` articles. `make bench` runs it.

Run: .venv/bin/python -m bench.bench_digest [N]   (the target is a build in at most 1 s)
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import insert

from monitor.config.sections import DigestSettings
from monitor.digest import build_digest, render_digest
from monitor.store.db import make_engine, migrate, session_scope
from monitor.store.models import Article, ArticleTopic, Feed

TOPICS = ["deepseek", "baidu", "alibaba", "tencent", "nvidia", "openai", "byd", "tesla",
          "china-ai-startups", "open-source-ai", "us-china-ai-race", "ai-investment",
          "ai-stocks", "autonomous-driving"]  # fmt: skip
SENTENCE = "The company said on Tuesday that its new model beats rivals on several benchmarks. "


def _populate(url: str, n: int, day: date, zone: ZoneInfo) -> None:
    rng = random.Random(5)
    start = datetime.combine(day, datetime.min.time(), tzinfo=zone).astimezone(UTC)
    engine = make_engine(url)
    migrate(engine)
    articles, topics = [], []
    originals: list[int] = []
    for i in range(1, n + 1):
        fetched = start + timedelta(seconds=rng.randrange(86_000))
        row = {"id": i, "feed_id": 1 + i % 40, "url": f"https://news{i % 40}.example/a/{i}",
               "canonical_url": f"https://news{i % 40}.example/a/{i}", "title": f"Story {i}",
               "fetched": fetched, "published": fetched, "summary": SENTENCE * 4,
               "text": SENTENCE * 60}  # fmt: skip
        if originals and rng.random() < 0.25:  # a quarter are other outlets' copies
            of = rng.choice(originals)
            row |= {"duplicate_kind": "near", "duplicate_score": 0.9, "duplicate_of_id": of,
                    "story_id": of}  # fmt: skip
        else:
            originals.append(i)
            row["story_id"] = i
            for topic in rng.sample(TOPICS, rng.randrange(0, 4)):
                topics.append({"article_id": i, "topic": topic, "score": rng.random()})
        articles.append(row)
    with session_scope(engine) as session:
        session.execute(insert(Feed), [{"id": f, "name": f"feed-{f}",
                                        "url": f"https://news{f}.example/rss"}
                                       for f in range(1, 41)])  # fmt: skip
        session.execute(insert(Article), articles)
        session.execute(insert(ArticleTopic), topics)
    engine.dispose()


def bench_digest(n: int = 5000) -> float:
    """Seconds to build the digest of a day with `n` articles (render time printed as well)."""
    zone, day = ZoneInfo("Europe/Berlin"), date(2025, 3, 4)
    settings = DigestSettings(timezone=zone.key)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        _populate(url, n, day, zone)
        engine = make_engine(url)
        began = time.perf_counter()
        with session_scope(engine) as session:
            data = build_digest(session, day, zone, settings, datetime(2025, 3, 5, tzinfo=UTC))
        built = time.perf_counter() - began
        rendered = render_digest(data, settings, {t: t for t in TOPICS})
        total = time.perf_counter() - began
        engine.dispose()
    print(f"digest of {n} articles ({len(data.stories)} stories): build {built:.3f} s, "
          f"build + render {total:.3f} s, html {len(rendered.html) / 1e6:.1f} MB")  # fmt: skip
    return built


def run(n: int = 5000, runs: int = 3) -> dict[str, object]:
    """Median build and build+render times of a 5,000-article day, and a baseline: reading
    the same day's rows with one plain SQL query (so the ratio survives a noisy machine)."""
    import sqlite3
    import statistics

    zone, day = ZoneInfo("Europe/Berlin"), date(2025, 3, 4)
    settings = DigestSettings(timezone=zone.key)
    builds, totals, bases = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        _populate(f"sqlite:///{path}", n, day, zone)
        engine = make_engine(f"sqlite:///{path}")
        for _ in range(runs):
            began = time.perf_counter()
            with sqlite3.connect(path) as raw:
                raw.execute(
                    "SELECT id, title, url, summary, substr(text, 1, 1500) FROM article"
                ).fetchall()
                raw.execute("SELECT * FROM article_topic").fetchall()
            bases.append(time.perf_counter() - began)
            began = time.perf_counter()
            with session_scope(engine) as session:
                data = build_digest(session, day, zone, settings, datetime(2025, 3, 5, tzinfo=UTC))
            builds.append(time.perf_counter() - began)
            render_digest(data, settings, {t: t for t in TOPICS})
            totals.append(time.perf_counter() - began)
        engine.dispose()
    build, total, base = (statistics.median(x) for x in (builds, totals, bases))
    return {
        "articles": n,
        "build_s": round(build, 3),
        "build_and_render_s": round(total, 3),
        "goal": "<= 1 s",
        "baseline_plain_select_s": round(base, 3),
        "ratio_build_to_select": round(build / base, 1),
    }


if __name__ == "__main__":
    bench_digest(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
