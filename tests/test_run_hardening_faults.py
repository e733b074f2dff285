"""Issue 14, containment by fault injection: every stage fails at random (seeded) for a share
of the items it sees — the network (OSError, httpx and httpcore errors), the feed parser, the
extraction, a constraint violation writing one article. The cycle completes, every other item
is stored, and every failure is recorded on its feed or article and in the fetch log."""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx
import pytest
from lxml import etree
from sqlalchemy.exc import IntegrityError
from support import Site
from werkzeug import Request, Response
from worlds import build_world, rss

import monitor.run.pages
import monitor.run.polljobs
from monitor.net.fetch import Fetcher
from monitor.run.process import ArticleWorker

CONFIG = """
[fetch]
per_host_delay = 0.0
deadline = 5.0
page_retries = 0
[extract]
workers = 1
[dedup]
embedder = "static"
[schedule]
jitter = 0.0
"""


class Faults:
    """The test switch: `hit(stage, key)` is true for a seeded share of the keys of a stage,
    the same key always getting the same answer; every hit is remembered."""

    def __init__(self, seed: int, share: float) -> None:
        self.seed = seed
        self.share = share
        self.hits: dict[str, set[str]] = defaultdict(set)

    def hit(self, stage: str, key: str) -> bool:
        if random.Random(f"{self.seed}:{stage}:{key}").random() < self.share:
            self.hits[stage].add(key)
            return True
        return False


def network(error: str) -> bool:
    """The message of an injected network error, as the fetcher words it."""
    return error.startswith(("connection failed: ", "ReadError: "))


@pytest.fixture
def faults(monkeypatch: pytest.MonkeyPatch) -> Faults:
    switch = Faults(seed=14, share=0.2)
    network_errors: list[Callable[[], BaseException]] = [
        lambda: OSError(107, "Transport endpoint is not connected"),
        lambda: httpx.ReadError("connection reset by peer"),
        lambda: httpcore.RemoteProtocolError("peer closed connection mid-message"),
        lambda: ConnectionResetError(104, "Connection reset by peer"),
    ]
    read = Fetcher._read

    def flaky_read(self: Fetcher, url: str, *args: Any) -> Any:
        if switch.hit("network", urlsplit(url).path):
            raise random.Random(url).choice(network_errors)()
        return read(self, url, *args)

    parse = monitor.run.polljobs.parse_feed

    def flaky_parse(content: bytes, headers: Any) -> Any:
        site = re.search(rb"/site\d+/", content)  # which feed this is
        if site and switch.hit("parse", site.group().decode()):
            raise etree.XMLSyntaxError("injected", 1, 1, 1, "feed.xml")
        return parse(content, headers)

    prepare = ArticleWorker.prepare

    def flaky_prepare(self: ArticleWorker, feed_id: int, entry: Any, url: str, *rest: Any) -> Any:
        if rest[1] is not None and switch.hit("extract", urlsplit(url).path):
            raise RuntimeError("injected: the extractor crashed")
        return prepare(self, feed_id, entry, url, *rest)

    save = monitor.run.pages.save_article

    def flaky_save(session: Any, new: Any, *rest: Any) -> Any:
        if switch.hit("store", urlsplit(new.url).path):
            raise IntegrityError("INSERT INTO article", {}, Exception("injected constraint"))
        return save(session, new, *rest)

    monkeypatch.setattr(Fetcher, "_read", flaky_read)
    monkeypatch.setattr(monitor.run.polljobs, "parse_feed", flaky_parse)
    monkeypatch.setattr(ArticleWorker, "prepare", flaky_prepare)
    monkeypatch.setattr(monitor.run.pages, "save_article", flaky_save)
    return switch


def test_every_stage_failing_at_random_ends_no_cycle(
    site: Site, workdir: Path, run_cli, faults: Faults
) -> None:  # type: ignore[no-untyped-def]
    world = build_world(feeds=8, per_feed=15, copies=0, seed=14)
    base = site.url("").rstrip("/")
    for path, html in world.pages.items():
        site.server.expect_request(path).respond_with_data(html, content_type="text/html")
    lines = [CONFIG]
    for i, path in enumerate(world.feeds):
        site.server.expect_request(path).respond_with_data(
            rss(base, world.feeds[path]), content_type="application/rss+xml"
        )
        lines.append(f'[[feeds]]\nname = "f{i}"\nurl = "{base}{path}"\n')
    (workdir / "config.toml").write_text("\n".join(lines), encoding="utf-8")
    assert run_cli("init").code == 0

    result = run_cli("poll", "--all")
    assert result.code == 0, result.err

    # Every stage was hit, and not everything was.
    assert all(faults.hits[s] for s in ("network", "parse", "extract", "store")), faults.hits
    status = {f["name"]: f for f in json.loads(run_cli("status", "--json").out)["feeds"]}
    db = workdir / "data" / "monitor.db"
    with sqlite3.connect(db) as conn:
        stored = {
            url: (status_, error, fetch_error)
            for url, status_, error, fetch_error in conn.execute(
                "SELECT url, status, error, fetch_error FROM article"
            )
        }
        logged = {
            url: error
            for url, error in conn.execute("SELECT url, error FROM fetch_log ORDER BY id")
        }
    down = set()
    for i, path in enumerate(world.feeds):
        feed = status[f"f{i}"]
        url = f"{base}{path}"
        if path in faults.hits["network"]:
            assert feed["state"] == "failing" and network(feed["last_error"]), feed
            down.add(path)
        elif f"/site{i}/" in faults.hits["parse"]:
            assert feed["last_error"].startswith("cannot parse: XMLSyntaxError"), feed
            down.add(path)
        else:
            assert feed["state"] == "ok", feed
            lost = [f"{base}{p}" for p, _ in world.feeds[path] if p in faults.hits["store"]]
            if lost:  # a page that could not be stored at all is named on its feed
                error = feed["last_error"]
                assert any(error.startswith(f"page {u}: internal error") for u in lost), feed
        if path in down:
            assert logged[url], url  # in the fetch log, with its error
    assert down and len(down) < len(world.feeds)
    expected = 0
    for path in world.feeds:
        if path in down:
            continue
        for page, _title in world.feeds[path]:
            url = f"{base}{page}"
            if page in faults.hits["store"]:
                assert url not in stored  # not storable at all: the fetch log says why
                assert "internal error: IntegrityError" in logged[url]
            elif page in faults.hits["network"]:
                assert stored[url][0] == "fetch-failed" and network(stored[url][2])
                assert network(logged[url])
            elif page in faults.hits["extract"]:
                assert stored[url][0] == "fetch-failed"
                assert "internal error: RuntimeError" in stored[url][1]
                assert "RuntimeError" in logged[url]
            else:
                assert stored[url][0] == "ok", (url, stored[url])
                expected += 1
    assert expected > 15
    # The feeds whose articles could not all be stored stay due: the next cycle (no faults
    # for the ones the switch let through) stores what is left.
    assert sum(1 for v in stored.values() if v[0] == "ok") == expected


def test_an_extraction_process_that_dies_is_replaced(site: Site, workdir: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    """An extraction process killed mid-cycle (the OOM killer, a crash in a C library)
    breaks the whole pool: a new pool takes over, the pages it held are extracted again,
    and every article is stored with its text."""
    world = build_world(feeds=2, per_feed=60, copies=0, seed=7)
    base = site.url("").rstrip("/")

    def slowly(html: str) -> Callable[[Request], Response]:
        def handler(request: Request) -> Response:
            time.sleep(0.03)  # the cycle lasts a few seconds: the kill lands within it
            return Response(html, content_type="text/html")

        return handler

    for path, html in world.pages.items():
        site.server.expect_request(path).respond_with_handler(slowly(html))
    lines = [CONFIG.replace("workers = 1", "workers = 2")]
    for i, path in enumerate(world.feeds):
        site.server.expect_request(path).respond_with_data(
            rss(base, world.feeds[path]), content_type="application/rss+xml"
        )
        lines.append(f'[[feeds]]\nname = "f{i}"\nurl = "{base}{path}"\n')
    (workdir / "config.toml").write_text("\n".join(lines), encoding="utf-8")
    assert run_cli("init").code == 0
    killed: list[int] = []

    def kill_one() -> None:
        me = os.getpid()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            tree = children()
            # the fork server's children: the extraction processes
            extraction = sorted(pid for pid, ppid in tree.items() if tree.get(ppid) == me)
            if len(extraction) >= 2:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(extraction[-1], signal.SIGKILL)
                    killed.append(extraction[-1])
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one)
    killer.start()
    result = run_cli("poll", "--all")
    killer.join()
    assert result.code == 0, result.err
    assert killed  # early in the cycle: without a new pool, the later pages would fail
    with sqlite3.connect(workdir / "data" / "monitor.db") as conn:
        statuses = dict(conn.execute("SELECT status, count(*) FROM article GROUP BY status"))
    assert statuses == {"ok": 120}


def children() -> dict[int, int]:
    """pid -> parent pid of every live process."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            state, ppid = stat.rsplit(")", 1)[1].split()[:2]
            if state != "Z":
                found[int(entry)] = int(ppid)
    return found
