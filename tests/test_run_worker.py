"""Scaling out: `monitor run --scheduler-only` + three `monitor worker` processes on a real
PostgreSQL and a real Redis, against a local site of a few hundred articles."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from servers import Postgres, Redis
from sqlmodel import Session, select
from support import Db, Site, write_config
from worlds import World, build_world, rss

from monitor.config.dedup import DedupSettings
from monitor.dedup.features import extract_features
from monitor.extract.articles import NewArticle
from monitor.store.db import make_engine, migrate
from monitor.store.dedup_index import DedupIndex
from monitor.store.models import Article, Feed
from monitor.store.write import AlreadyStored, save_article
from monitor.topics.tagger import Tagging

ROOT = Path(__file__).resolve().parent.parent
POSTGRES = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


def serve(site: Site, world: World) -> str:
    base = site.url("").rstrip("/")
    for path, items in world.feeds.items():
        site.server.expect_request(path).respond_with_data(
            rss(base, items), content_type="application/rss+xml", headers={"ETag": '"1"'}
        )
    for path, html in world.pages.items():
        site.server.expect_request(path).respond_with_data(
            html, content_type="text/html; charset=utf-8"
        )
    return base


def spawn(workdir: Path, *args: str) -> subprocess.Popen[bytes]:
    log = open(workdir / f"{args[0]}-{time.monotonic_ns()}.log", "wb")  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", str(workdir / "config.toml"), *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def prepare(site: Site, workdir: Path, redis: Redis, world: World) -> str:
    """Serve the world, write the configuration, empty the broker."""
    redis.flush()
    base = serve(site, world)
    feeds = [(f"feed{i}", f"{base}{path}") for i, path in enumerate(world.feeds)]
    # Generated stories are word salad, which the same-story model may pair: the test is
    # about who is the original under concurrency, so only copies (exact, near) count.
    extra = (
        f'[queue]\nbroker_url = "{redis.url}"\nrequeue_after_seconds = 3.0\n'
        "[dedup]\nsame_story_threshold = 1.01\n"
    )
    config = write_config(workdir, feeds, extra)
    text = config.read_text().replace("jitter = 0.0", "jitter = 0.0\ntick_seconds = 1.0")
    config.write_text(text)
    return base


def run_cluster(
    site: Site, workdir: Path, db: Db, redis: Redis, world: World, kill_after: int | None
) -> None:
    """Scheduler + 3 workers until every entry is stored; optionally kill -9 one worker once
    `kill_after` articles are in."""
    expected_entries = sum(len(items) for items in world.feeds.values())
    scheduler = spawn(workdir, "run", "--scheduler-only")
    workers = [spawn(workdir, "worker") for _ in range(3)]
    try:
        deadline = time.monotonic() + 120
        killed = False
        while time.monotonic() < deadline:
            articles = db.rows("SELECT count(*) FROM article")[0][0]
            entries = db.rows("SELECT count(*) FROM entry")[0][0]
            if kill_after is not None and not killed and articles >= kill_after:
                workers[0].send_signal(signal.SIGKILL)
                killed = True
            done = db.rows("SELECT count(*) FROM feed WHERE last_success IS NOT NULL")[0][0]
            if entries >= expected_entries and done == len(world.feeds):
                break
            for proc in [scheduler, *workers[1:]]:
                assert proc.poll() is None, "a monitor process died"
            time.sleep(0.3)
        else:
            pytest.fail(f"not done in time: {entries}/{expected_entries} entries")
        assert kill_after is None or killed
    finally:
        for proc in [scheduler, *workers]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in [scheduler, *workers]:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    assert scheduler.returncode == 0
    assert all(w.returncode == 0 for w in workers[int(kill_after is not None) :])


def check_result(base: str, db: Db, world: World) -> dict[str, Any]:
    """Every page stored once, every copy linked to the one original of its story."""
    rows = db.rows(
        "SELECT a.id, a.canonical_url, a.duplicate_kind, a.duplicate_of_id FROM article a"
    )
    urls = [str(r[1]) for r in rows]
    assert len(urls) == len(set(urls))
    assert sorted(urls) == sorted(f"{base}{p}" for p in world.pages)
    by_story: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows:
        by_story[world.story_of[str(row[1])[len(base) :]]].append(row)
    for story, group in by_story.items():
        originals = [r for r in group if r[2] is None]
        assert len(originals) == 1, (story, group)
        for copy in group:
            if copy is not originals[0]:
                assert copy[2] in ("exact", "near"), (story, group)
                assert copy[3] == originals[0][0], (story, group)
    entries = db.rows("SELECT feed_id, guid, article_id FROM entry")
    assert len(entries) == sum(len(items) for items in world.feeds.values())
    assert all(e[2] is not None for e in entries)
    return {
        "duplicates": sorted(
            (u, sorted(str(r[1]) for r in by_story[world.story_of[u[len(base) :]]])) for u in urls
        )
    }


def feed_fetches(site: Site) -> Counter[str]:
    return Counter(r.path for r, _ in site.server.log if r.path.startswith("/feed"))


@POSTGRES
def test_scheduler_and_three_workers_store_everything_once(
    site: Site,
    workdir: Path,
    db: Db,
    redis_server: Redis,
    postgres_server: Postgres,
    monkeypatch: pytest.MonkeyPatch,
    run_cli,
) -> None:  # type: ignore[no-untyped-def]
    world = build_world(feeds=10, per_feed=18, copies=20)  # 200 articles
    base = prepare(site, workdir, redis_server, world)
    assert run_cli("init").code == 0
    run_cluster(site, workdir, db, redis_server, world, kill_after=None)
    calm = check_result(base, db, world)
    fetches = feed_fetches(site)
    assert set(fetches) == set(world.feeds) and set(fetches.values()) == {1}  # once per cycle
    pages = Counter(r.path for r, _ in site.server.log if not r.path.startswith("/feed"))
    assert set(pages.values()) == {1}

    # The same world again in a fresh database, with one worker killed (-9) mid-run.
    site.server.clear()
    again = Db(postgres_server.create_database())
    monkeypatch.setenv("MONITOR_DATABASE_URL", again.url)
    assert prepare(site, workdir, redis_server, world) == base
    assert run_cli("init").code == 0
    run_cluster(site, workdir, again, redis_server, world, kill_after=60)
    assert check_result(base, again, world) == calm
    refetched = [p for p, n in feed_fetches(site).items() if n > 1]
    assert len(refetched) <= 1  # only the feed the killed worker held is polled again


@POSTGRES
def test_two_copies_at_the_same_moment_make_one_original(workdir: Path, database_url: str) -> None:
    """Many threads store copies of one story at once, each in its own transaction: exactly
    one is the original; the same URL twice is linked, never an integrity error."""
    engine = make_engine(database_url)
    migrate(engine)
    with Session(engine) as session:
        session.add(Feed(name="f", url="http://example.com/f"))
        session.commit()
    text = " ".join(f"word{i} Tessaro{i % 7} {i * 13}" for i in range(120))
    features = extract_features("Tessaro merger", text, DedupSettings(), None)
    barrier = threading.Barrier(6)
    outcome: list[str] = []

    def store(n: int) -> None:
        url = f"http://example.com/{n % 4}"  # two pairs share a URL
        new = NewArticle(1, url, url, url, "Tessaro merger", None, None, None, "en", "", text,
                         "trafilatura", "ok")  # fmt: skip
        with Session(engine, expire_on_commit=False) as session:
            barrier.wait()
            try:
                _article_id, verdict = save_article(
                    session,
                    new,
                    DedupIndex(session, DedupSettings()),
                    features,
                    Tagging([], {}, {}),
                )
                session.commit()
                outcome.append(verdict.kind or "original")
            except AlreadyStored:
                session.rollback()
                outcome.append("linked")

    threads = [threading.Thread(target=store, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcome) == ["exact", "exact", "exact", "linked", "linked", "original"]
    with Session(engine) as session:
        rows = session.exec(select(Article)).all()
    assert len(rows) == 4 and sum(r.duplicate_kind is None for r in rows) == 1
    engine.dispose()
