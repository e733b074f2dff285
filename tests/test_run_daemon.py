"""The daemon and cron mode as real processes: `monitor run` stopped by SIGTERM mid-work and
started again, two `monitor poll` runs at once, and a digest time missed while stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import ClassVar
from zoneinfo import ZoneInfo

import pytest
from digest_support import Recorder, smtp_server
from pytest_httpserver import HTTPServer
from support import article_html, write_config
from werkzeug import Request, Response

from monitor.run.daemon import digest_due_at_start

FEEDS = 3
PER_FEED = 4
PAGE_DELAY = 0.4  # seconds each article page takes: SIGTERM lands while pages are in flight
# While HOLD is clear, the pages asked for after the first FREE wait here, so that a SIGTERM
# sent once the free ones are stored lands mid-work however fast or slow the machine is (set
# by default: the pages just flow). The free ones are the first asked for, whichever they
# are: one host's two request slots must not both be taken by held pages.
HOLD = threading.Event()
HOLD.set()
FREE = 2
SLOTS = 2  # pages of one host in flight at once (FetchSettings.per_host_concurrency)
# How long a test waits for what takes a few seconds on a quiet machine: a shared CI machine
# under load can be ten times slower, and a wait that ends early only fails the test. The
# conditions waited for are the assertions; this only bounds a hung run.
PATIENCE = 120.0
WORDS = [
    "harbour",
    "council",
    "museum",
    "railway",
    "orchestra",
    "library",
    "bridge",
    "market",
    "garden",
    "school",
    "hospital",
    "river",
    "station",
    "tower",
    "square",
    "park",
    "theatre",
    "stadium",
    "airport",
    "tunnel",
    "factory",
    "clinic",
    "ferry",
]


def story(feed: int, n: int) -> tuple[str, list[str]]:
    """A distinct article per (feed, n) (the same template: dedup may fold them; the tests
    count rows by URL, which dedup never merges)."""
    a, b, c = (WORDS[(feed * 7 + n * 3 + k * 5) % len(WORDS)] for k in range(3))
    title = f"Feed {feed} story {n}: the {a} and the {b} of district {feed * 10 + n}"
    paragraphs = [
        f"Officials in district {feed * 10 + n} said on day {n} that the {a} near the {b} "
        f"would be rebuilt, a plan first proposed {n + 2} years ago by resident group {feed}.",
        f"The {c} project will cost {feed * 13 + n * 7} million euros and employ "
        f"{feed * 40 + n * 11} workers, the district's planning office said in a statement.",
        f"Residents of district {feed * 10 + n} have campaigned for the {a} since the {c} "
        f"closed, collecting {feed * 1000 + n * 37} signatures in a petition last spring.",
        f"Work on the {b} is scheduled to begin in month {n + 1} and to end within "
        f"{feed + n + 2} years, according to the timetable published with the decision.",
    ]
    return title, paragraphs


def feed_xml(base: str, feed: int) -> str:
    now = datetime.now(UTC)
    items = "".join(
        f"<item><title>{story(feed, n)[0]}</title><link>{base}/f{feed}/a{n}</link>"
        f"<guid>urn:f{feed}:a{n}</guid><pubDate>"
        f"{(now - timedelta(hours=n)).strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate>"
        f"<description>Summary of feed {feed} story {n}.</description></item>"
        for n in range(PER_FEED)
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel>'
        f"<title>Feed {feed}</title><link>{base}/</link>{items}</channel></rss>"
    )


@pytest.fixture
def world() -> Iterator[tuple[str, list[str]]]:
    """A threaded HTTP server (so per-host concurrency is real) with slow article pages;
    yields the base URL and the list of page paths requested so far."""
    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.start()
    base = server.url_for("").rstrip("/")
    requested: list[str] = []
    lock = threading.Lock()

    def page(request: Request) -> Response:
        with lock:
            requested.append(request.path)
            asked = len(requested)
        time.sleep(PAGE_DELAY)
        feed, n = (int(x[1:]) for x in request.path.strip("/").split("/"))
        if asked > FREE:
            HOLD.wait(PATIENCE * 2)  # released by the test as soon as it has signalled
        title, paragraphs = story(feed, n)
        html = article_html(title, paragraphs)
        return Response(html, content_type="text/html; charset=utf-8")

    for f in range(FEEDS):
        server.expect_request(f"/feed{f}.xml").respond_with_data(
            feed_xml(base, f), content_type="application/rss+xml"
        )
        for n in range(PER_FEED):
            server.expect_request(f"/f{f}/a{n}").respond_with_handler(page)
    yield base, requested
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture(autouse=True)
def no_leftover_processes() -> Iterator[None]:
    yield
    while Proc.started:
        proc = Proc.started.pop()
        proc.kill()  # a no-op for a process group that is gone
        proc.handle.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.proc.communicate(timeout=5)


def feed_list(base: str) -> list[tuple[str, str]]:
    return [(f"feed{f}", f"{base}/feed{f}.xml") for f in range(FEEDS)]


def all_pages(base: str) -> set[str]:
    return {f"{base}/f{f}/a{n}" for f in range(FEEDS) for n in range(PER_FEED)}


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env["MONITOR_ALLOW_HOSTS"] = "127.0.0.1"
    env.update(extra)
    return env


class Proc:
    """A `monitor` subprocess whose stderr goes to a file we can read while it runs."""

    started: ClassVar[list[Proc]] = []

    def __init__(self, workdir: Path, args: list[str], env: dict[str, str], log: str) -> None:
        Proc.started.append(self)
        self.log = workdir / log
        self.handle = self.log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(workdir / "config.toml"), *args],
            cwd=workdir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self.handle,
            text=True,
            start_new_session=True,  # its own process group, as under systemd or a terminal
        )

    def err(self) -> str:
        return self.log.read_text()

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def kill(self) -> None:
        """The whole group: extraction workers must not outlive a failed test."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def signal_group(self, signum: int) -> None:
        """What Ctrl-C (SIGINT) or systemd (SIGTERM to the unit) do: every process gets it."""
        os.killpg(self.proc.pid, signum)

    def finish(self, timeout: float) -> tuple[int, str, str]:
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self.proc.communicate()
            raise AssertionError(f"did not exit within {timeout}s:\n{self.err()}") from None
        finally:
            self.handle.close()
        return self.proc.returncode, out, self.err()


def wait_for(check: Callable[[], object], timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def query(db: Path, sql: str) -> list[tuple[object, ...]]:
    if not db.exists():
        return []
    conn = sqlite3.connect(db, timeout=5)
    try:
        return conn.execute(sql).fetchall()
    except sqlite3.OperationalError:  # schema not there yet
        return []
    finally:
        conn.close()


def count(db: Path, sql: str) -> int:
    rows = query(db, sql)
    return int(rows[0][0]) if rows else 0  # type: ignore[call-overload]


def assert_intact(db: Path) -> None:
    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    assert query(db, "PRAGMA foreign_key_check") == []
    dupes = {
        "article": "SELECT canonical_url FROM article GROUP BY canonical_url HAVING count(*) > 1",
        "entry": "SELECT feed_id, guid FROM entry GROUP BY feed_id, guid HAVING count(*) > 1",
        "topic": "SELECT article_id, topic FROM article_topic GROUP BY 1, 2 HAVING count(*) > 1",
        "fts": "SELECT rowid FROM article_fts GROUP BY rowid HAVING count(*) > 1",
    }
    for table, sql in dupes.items():
        assert query(db, sql) == [], f"duplicate rows in {table}"
    # Nothing half-written: an article stored during shutdown is a complete one.
    assert query(db, "SELECT url, status FROM article WHERE status <> 'ok'") == []
    assert count(db, "SELECT count(*) FROM entry WHERE article_id IS NULL") == 0


def configure(workdir: Path, feeds: list[tuple[str, str]], extra: str = "") -> None:
    """The tests' usual configuration, with a one-second daemon tick."""
    path = write_config(workdir, feeds, extra)
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("[schedule]\n", "[schedule]\ntick_seconds = 1.0\n"), "utf-8")


def init(workdir: Path, run_cli: Callable[..., object]) -> Path:
    result = run_cli("init")
    assert getattr(result, "code", 1) == 0
    return workdir / "data" / "monitor.db"


# -- the daemon stopped mid-work and started again ------------------------------------------


def test_daemon_sigterm_mid_work_then_restart_loses_and_repeats_nothing(
    workdir: Path, world: tuple[str, list[str]], run_cli: Callable[..., object]
) -> None:
    base, requested = world
    configure(workdir, feed_list(base))
    config = workdir / "config.toml"  # held pages must not time out while they are held
    text = config.read_text(encoding="utf-8")
    text = text.replace("deadline = 10.0", f"deadline = {PATIENCE * 2}")
    config.write_text(text.replace("read_timeout = 5.0", f"read_timeout = {PATIENCE * 2}"), "utf-8")
    db = init(workdir, run_cli)
    env = child_env()

    HOLD.clear()
    try:
        first = Proc(workdir, ["run"], env, "run1.log")
        # The free pages stored: the next ones are asked for and held.
        wait_for(lambda: count(db, "SELECT count(*) FROM article") >= FREE, PATIENCE, "articles")
        first.signal(signal.SIGTERM)
        wait_for(lambda: "received signal 15" in first.err(), PATIENCE, "the signal handled")
        first.signal(signal.SIGINT)  # an impatient second signal changes nothing
        wait_for(lambda: "received signal 2 again" in first.err(), PATIENCE, "the second one")
        stopped_at = time.monotonic()
    finally:
        HOLD.set()  # the pages in flight complete; the ones not yet asked for are not asked
    code, _, err = first.finish(timeout=PATIENCE)
    assert code == 0, err
    assert time.monotonic() - stopped_at < 5
    assert len(requested) <= FREE + SLOTS  # the free pages, and those in flight at the signal
    assert "Traceback" not in err and "daemon stopped" in err
    assert_intact(db)
    stored = {str(r[0]) for r in query(db, "SELECT url FROM article")}
    assert 2 <= len(stored) < FEEDS * PER_FEED, "SIGTERM should land mid-work"
    before = len(requested)

    second = Proc(workdir, ["run"], env, "run2.log")
    wait_for(
        lambda: (
            count(db, "SELECT count(*) FROM article") == FEEDS * PER_FEED
            and count(db, "SELECT count(*) FROM feed WHERE last_success IS NOT NULL") == FEEDS
        ),
        PATIENCE,
        "every article after the restart",
    )
    second.signal(signal.SIGTERM)
    code, _, err = second.finish(timeout=PATIENCE)
    assert code == 0, err
    assert "Traceback" not in err
    assert_intact(db)
    urls = [str(r[0]) for r in query(db, "SELECT url FROM article")]
    assert sorted(urls) == sorted(all_pages(base))  # every article, exactly once
    assert count(db, "SELECT count(*) FROM entry") == FEEDS * PER_FEED
    # Pages stored before the SIGTERM were not fetched again.
    again = {base + p for p in requested[before:]}
    assert not again & stored
    # Every feed has a next check in the future (the daemon will come back).
    assert count(db, "SELECT count(*) FROM feed WHERE next_check > datetime('now')") == FEEDS


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_daemon_with_extraction_workers_stops_cleanly_on_a_group_signal(
    signum: int, workdir: Path, world: tuple[str, list[str]], run_cli: Callable[..., object]
) -> None:
    base, requested = world
    configure(workdir, feed_list(base))
    config = workdir / "config.toml"
    config.write_text(config.read_text().replace("workers = 1", "workers = 2"), "utf-8")
    db = init(workdir, run_cli)
    daemon = Proc(workdir, ["run"], child_env(), "group.log")
    # Once an article is stored the worker pool is up (a signal while the forkserver itself
    # boots kills its interpreter start-up: harmless, but noisy on stderr).
    wait_for(lambda: count(db, "SELECT count(*) FROM article") >= 1, PATIENCE, "an article")
    daemon.signal_group(signum)
    code, _, err = daemon.finish(timeout=PATIENCE)
    assert code == 0, err
    assert "Traceback" not in err and "crashed" not in err, err
    assert_intact(db)
    assert len(requested) >= 1


# -- cron mode: two polls at once ---------------------------------------------------------


def test_two_polls_at_once_exactly_one_polls(
    workdir: Path, world: tuple[str, list[str]], run_cli: Callable[..., object]
) -> None:
    base, requested = world
    configure(workdir, feed_list(base))
    db = init(workdir, run_cli)
    env = child_env()
    runs = [Proc(workdir, ["poll", "--all"], env, f"poll{i}.log") for i in range(2)]
    results = [p.finish(timeout=PATIENCE) for p in runs]
    assert [code for code, _, _ in results] == [0, 0], results
    polled = [out for _, out, _ in results if out.startswith("polled ")]
    locked = [err for _, _, err in results if "another monitor run is polling" in err]
    assert len(polled) == 1 and len(locked) == 1, results
    assert f"{FEEDS * PER_FEED} articles stored" in polled[0]
    assert_intact(db)
    assert sorted(str(r[0]) for r in query(db, "SELECT url FROM article")) == sorted(
        all_pages(base)
    )
    assert sorted(requested) == sorted(p[len(base) :] for p in all_pages(base))  # once each


# -- the digest missed while the daemon was down ------------------------------------------


def test_digest_time_missed_while_stopped_is_sent_once(
    workdir: Path, run_cli: Callable[..., object]
) -> None:
    # 00:00 in UTC has always passed today: the digest of yesterday is overdue.
    configure(workdir, [], '[digest]\ntime = "00:00"\ntimezone = "UTC"\nsend_empty = true\n')
    db = init(workdir, run_cli)
    recorder = Recorder()
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    with smtp_server(recorder) as port:
        env = child_env(
            MONITOR_SMTP_URL=f"smtp://127.0.0.1:{port}",
            MONITOR_DIGEST_TO="analyst@example.com",
            MONITOR_DIGEST_FROM="monitor@example.org",
        )
        first = Proc(workdir, ["run"], env, "digest1.log")
        wait_for(lambda: recorder.accepted, PATIENCE, "the overdue digest")
        wait_for(lambda: "state=sent" in first.err(), PATIENCE, "the digest job to finish")
        first.signal(signal.SIGTERM)
        code, _, err = first.finish(timeout=PATIENCE)
        assert code == 0, err
        assert query(db, "SELECT day, state FROM digest") == [(yesterday, "sent")]

        second = Proc(workdir, ["run"], env, "digest2.log")
        wait_for(lambda: "daemon started" in second.err(), PATIENCE, "the second start")
        time.sleep(1.5)  # room for a (wrong) catch-up job to run
        second.signal(signal.SIGTERM)
        code, _, err = second.finish(timeout=PATIENCE)
        assert code == 0, err
    assert len(recorder.attempts) == 1 and len(recorder.accepted) == 1
    assert query(db, "SELECT day, state FROM digest") == [(yesterday, "sent")]


# -- which digest is overdue at start (pure) ----------------------------------------------


@pytest.mark.parametrize(
    ("now", "sent", "due"),
    [
        # 07:00 passed today: yesterday's digest is due unless sent.
        (datetime(2025, 3, 5, 9, 0), set(), date(2025, 3, 4)),
        (datetime(2025, 3, 5, 9, 0), {"2025-03-04"}, None),
        (datetime(2025, 3, 5, 7, 0), set(), date(2025, 3, 4)),
        # Before 07:00: today's cron sends yesterday's; the one of 07:00 yesterday (for the
        # day before) was missed if not sent, and no trigger will ever fire for it again.
        (datetime(2025, 3, 5, 6, 59), set(), date(2025, 3, 3)),
        (datetime(2025, 3, 5, 6, 59), {"2025-03-03"}, None),
    ],
)
def test_digest_due_at_start(now: datetime, sent: set[str], due: date | None) -> None:
    zone = ZoneInfo("Europe/Berlin")
    assert digest_due_at_start(now.replace(tzinfo=zone), 7, 0, sent) == due
