"""Hardening, crashes and concurrency (issue 7, cases 11-13): `kill -9` during a poll, readers
during a poll, a read-only or full database during a write. Real processes, real SQLite."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from support import Site, article_html, write_config
from werkzeug import Request, Response

import monitor.run.context
from monitor.store.db import make_engine

HERE = Path(__file__).resolve().parent
FEEDS = {"alpha": range(0, 4), "beta": range(2, 6), "gamma": range(5, 8)}  # overlaps: shared URLs
STORIES, ENTRIES = 8, 11
# How long a test waits for what takes a second on a quiet machine (a bound for a hung run).
PATIENCE = 120.0


def serve_feeds(site: Site, page_delay: float = 0.02) -> str:
    base = site.url("").rstrip("/")

    def feed(name: str) -> Any:
        body = "".join(
            f"<item><title>Story {i}</title><link>{base}/story/{i}?utm_source={name}</link>"
            f"<guid>{name}-{i}</guid><description>Summary of story {i}.</description></item>"
            for i in FEEDS[name]
        )
        xml = f'<rss version="2.0"><channel><title>{name}</title>{body}</channel></rss>'

        def handler(request: Request) -> Response:
            if request.headers.get("If-None-Match") == f'"{name}"':
                return Response(status=304)
            return Response(xml, content_type="application/rss+xml", headers={"ETag": f'"{name}"'})

        return handler

    def page(request: Request) -> Response:
        time.sleep(page_delay)  # spreads the run out, so a kill lands among the writes
        i = int(request.path.rsplit("/", 1)[1])
        words = " ".join(f"w{i}x{j}" for j in range(80))
        paragraphs = [f"Story {i} paragraph {k}: {words}." for k in range(4)]
        return Response(article_html(f"Story {i}", paragraphs), content_type="text/html")

    for name in FEEDS:
        site.server.expect_request(f"/{name}.xml").respond_with_handler(feed(name))
    for i in range(STORIES):
        site.server.expect_request(f"/story/{i}").respond_with_handler(page)
    return base


def snapshot(db: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """What must not depend on crashes: the articles (by canonical URL) and the entries."""
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        articles = conn.execute(
            "SELECT canonical_url, title, status, extraction, text FROM article "
            "ORDER BY canonical_url"
        ).fetchall()
        entries = conn.execute(
            "SELECT f.name, e.guid, a.canonical_url FROM entry e JOIN feed f ON f.id = e.feed_id "
            "LEFT JOIN article a ON a.id = e.article_id ORDER BY f.name, e.guid"
        ).fetchall()
        urls = [a[0] for a in articles]
        assert len(urls) == len(set(urls))
    return articles, entries


class Zygote:
    """`monitor` commands in forked children of one pre-imported process (see zygote.py)."""

    def __init__(self) -> None:
        env = dict(os.environ, PYTHONPATH=f"{HERE.parent}{os.pathsep}{HERE}")
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "zygote.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )

    def _ask(self, line: str) -> int:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def start(self, workdir: Path, *args: str) -> int:
        return self._ask(f"run {workdir} {' '.join(args)}")

    def wait(self, pid: int) -> int:
        return self._ask(f"wait {pid}")

    def run(self, workdir: Path, *args: str) -> int:
        return self.wait(self.start(workdir, *args))

    def close(self) -> None:
        assert self.proc.stdin
        self.proc.stdin.write("quit\n")
        self.proc.stdin.close()
        self.proc.wait(10)


@pytest.fixture
def zygote() -> Iterator[Zygote]:
    z = Zygote()
    yield z
    z.close()


@pytest.fixture
def template(site: Site, workdir: Path, run_cli) -> Path:  # type: ignore[no-untyped-def]
    """An initialised project (schema, seeds) whose data/ each run copies."""
    serve_feeds(site)
    write_config(workdir, [(name, site.url(f"/{name}.xml")) for name in FEEDS])
    assert run_cli("init").code == 0
    return workdir


def copy_project(template: Path, dest: Path) -> Path:
    dest.mkdir()
    shutil.copy(template / "config.toml", dest / "config.toml")
    shutil.copytree(template / "seeds", dest / "seeds")
    shutil.copytree(template / "data", dest / "data")
    return dest


def committed(db: Path) -> int:
    """How many articles `db` holds, read without writing to it: a read-only connection
    never checkpoints or removes the WAL, so a killed run's files stay as the kill left them."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            return int(conn.execute("SELECT count(*) FROM article").fetchone()[0])
    except sqlite3.OperationalError:  # busy, or not there yet
        return 0


def kill_after(pid: int, db: Path, articles: int, delay: float) -> None:
    """SIGKILL `pid` `delay` seconds after it has committed `articles` articles to `db` (0:
    after its start). Moments relative to the run's own progress land mid-run however fast
    or slow the machine is at the time."""
    deadline = time.monotonic() + PATIENCE
    while articles and committed(db) < articles and time.monotonic() < deadline:
        time.sleep(0.002)
    time.sleep(delay)
    os.kill(pid, signal.SIGKILL)


def test_kill_9_at_20_random_moments(template: Path, tmp_path: Path, zygote: Zygote) -> None:
    reference_dir = copy_project(template, tmp_path / "reference")
    db = reference_dir / "data" / "monitor.db"
    pid = zygote.start(reference_dir, "poll", "--all")
    codes: list[int] = []
    waiter = threading.Thread(target=lambda: codes.append(zygote.wait(pid)))
    start = time.monotonic()
    waiter.start()
    reached = {0: start}  # when the reference run had committed each number of articles
    while waiter.is_alive():
        reached.setdefault(committed(db), time.monotonic())
        time.sleep(0.002)
    waiter.join()
    reached.setdefault(committed(db), time.monotonic())
    assert codes == [0]
    reference = snapshot(db)
    assert len(reference[0]) == STORIES and len(reference[1]) == ENTRIES
    stored = sorted(reached)
    # Before the first article: start-up, the feeds, the first pages; after it, a kill lands
    # within about one article's time of the article it follows.
    first = reached[stored[1]] - start
    gap = (reached[stored[-1]] - reached[stored[1]]) / max(1, stored[-1] - stored[1])

    rng = random.Random(7)
    outcomes = []
    for n in range(0, 20, 2):  # two crashed projects at a time: one per core
        projects = [copy_project(template, tmp_path / f"kill{n + k}") for k in range(2)]
        moments = [rng.randrange(STORIES) for _ in projects]  # after how many articles
        delays = [rng.uniform(0.0, gap if after else first) for after in moments]
        pids = [zygote.start(p, "poll", "--all") for p in projects]
        killers = [
            threading.Thread(target=kill_after, args=(pid, p / "data" / "monitor.db", a, d))
            for pid, p, a, d in zip(pids, projects, moments, delays, strict=True)
        ]
        for killer in killers:
            killer.start()
        for killer in killers:
            killer.join()
        outcomes += [zygote.wait(pid) for pid in pids]
        # the normal run after each crash
        recover = [zygote.start(p, "poll", "--all") for p in projects]
        assert [zygote.wait(pid) for pid in recover] == [0, 0]
        for k, project in enumerate(projects):
            assert snapshot(project / "data" / "monitor.db") == reference, f"kill {n + k}"
    assert outcomes.count(-signal.SIGKILL) >= 15  # most kills landed mid-run


def test_readers_while_the_poller_writes(
    template: Path, zygote: Zygote, run_cli, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    pid = zygote.start(template, "poll", "--all")
    codes: list[int] = []
    waiter = threading.Thread(target=lambda: codes.append(zygote.wait(pid)))
    waiter.start()
    today = datetime.now(UTC).date().isoformat()
    reads = 0
    while waiter.is_alive() or reads == 0:
        for args in (
            ("search", "story", "--json"),
            ("status", "--json"),
            ("digest", "--date", today, "--out", str(tmp_path / "d.html")),
        ):
            result = run_cli(*args)
            assert result.code == 0, (args, result.err)
            assert "locked" not in result.err
            reads += 1
    waiter.join()
    assert codes == [0]
    assert len(snapshot(template / "data" / "monitor.db")[0]) == STORIES


@pytest.mark.parametrize(
    ("fault", "message"),
    [("full", "database or disk is full"), ("read-only", "readonly database")],
)
def test_a_full_or_read_only_database_rolls_back_and_the_next_run_recovers(
    template: Path, run_cli, monkeypatch: pytest.MonkeyPatch, fault: str, message: str
) -> None:  # type: ignore[no-untyped-def]
    db = template / "data" / "monitor.db"
    with sqlite3.connect(db) as conn:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]

    def faulty_engine(url: str) -> Engine:
        engine = make_engine(url)

        @event.listens_for(engine, "connect")
        def _limit(dbapi_conn: Any, _record: Any) -> None:
            if fault == "full":  # room for a few articles, then SQLITE_FULL mid-run
                dbapi_conn.execute(f"PRAGMA max_page_count = {pages + 8}")
            else:
                dbapi_conn.execute("PRAGMA query_only = ON")

        return engine

    monkeypatch.setattr(monitor.run.context, "make_engine", faulty_engine)
    result = run_cli("poll", "--all")
    assert result.code == 1
    assert message in result.err and "Traceback" not in result.err
    assert result.err.strip().splitlines()[-1].startswith("monitor: error: database")
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        partial = conn.execute("SELECT count(*) FROM article").fetchone()[0]
    assert partial < STORIES

    monkeypatch.setattr(monitor.run.context, "make_engine", make_engine)
    assert run_cli("poll", "--all").code == 0
    articles, entries = snapshot(db)
    assert len(articles) == STORIES and len(entries) == ENTRIES
