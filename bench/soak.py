"""`python -m bench soak`: the daemon's poll cycle many times against a changing loopback world.

Every cycle each feed publishes new items; some feeds answer 503, reset the connection or
send garbage now and then; some pages fail once (503 or a reset: retried within the cycle),
three times (retried on a later cycle) or always (404: stored with the feed's summary). The
intervals are shortened in the configuration (feeds due every 0.3 s, back-off capped at
about 2 s, page retries after 0.3 s); the clock of the code under test is the real one.

Reported: RSS, open file descriptors and threads of the polling process (and the RSS of its
extraction processes) after the warm-up and at the end, articles stored against articles
published, pages with text against pages that have text, and the cycle time.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FEEDS = 8
NEW_PER_CYCLE = 2
WINDOW = 12  # cycles an item stays in its feed
CONFIG = """
[fetch]
per_host_delay = 0.0
deadline = 10.0
read_timeout = 5.0
page_retry_wait = 0.05
page_retry_minutes = 0.005
[extract]
workers = 2
[dedup]
embedder = "static"
[schedule]
interval_minutes = 0.005
min_interval_minutes = 0.005
max_interval_minutes = 0.01
max_backoff_hours = 0.0005
long_backoff_hours = 0.0005
jitter = 0.0
"""


class World:
    """What the loopback sites serve at the current cycle (set by the soak loop)."""

    def __init__(self) -> None:
        words = " ".join(p.read_text() for p in (ROOT / "seeds").glob("*.txt")).split()
        self.words = words
        self.cycle = 0
        self.lock = threading.Lock()
        self.requests: dict[str, int] = {}

    def item(self, feed: int, cycle: int, k: int) -> str:
        return f"s{feed}/c{cycle}-{k}"

    def published(self) -> list[str]:
        return [
            self.item(f, c, k)
            for f in range(FEEDS)
            for c in range(self.cycle + 1)
            for k in range(NEW_PER_CYCLE)
        ]

    @staticmethod
    def fate(item: str) -> str:
        h = zlib.crc32(item.encode()) % 100
        if h < 10:
            return "503-once"
        if h < 17:
            return "reset-once"
        if h < 20:
            return "503-thrice"
        if h < 22:
            return "404"
        return "ok"

    def count(self, path: str) -> int:
        with self.lock:
            self.requests[path] = self.requests.get(path, 0) + 1
            return self.requests[path]

    def feed(self, base: str, feed: int) -> bytes:
        items = []
        for c in range(max(0, self.cycle - WINDOW + 1), self.cycle + 1):
            for k in range(NEW_PER_CYCLE):
                item = self.item(feed, c, k)
                items.append(
                    f"<item><title>Item {item}</title><link>{base}/{item}</link>"
                    f"<guid>{base}/{item}</guid><description>Summary of {item}.</description>"
                    "</item>"
                )
        return (
            f'<rss version="2.0"><channel><title>s{feed}</title>{"".join(items)}</channel></rss>'
        ).encode()

    def page(self, item: str) -> bytes:
        n = zlib.crc32(item.encode())
        w = self.words
        paras = "".join(
            "<p>" + " ".join(w[(n + j * 977 + k * 31) % len(w)] for k in range(80)) + "</p>"
            for j in range(6)
        )
        return (
            f"<html><head><title>Item {item}</title></head><body><nav>Home</nav>"
            f"<article><h1>Item {item}</h1><p>Reference {item}.</p>{paras}</article>"
            "<footer>(c) site</footer></body></html>"
        ).encode()


def serve(world: World) -> tuple[ThreadingHTTPServer, int]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def reset(self) -> None:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True

        def answer(self, status: int, body: bytes, kind: str = "text/html") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            path = self.path.lstrip("/")
            n = world.count(path)
            host = self.headers.get("Host", "127.0.0.1")
            if path.endswith(".xml"):  # a feed: s3 fails every 4th time in some way
                feed = int(path[1:-4])
                if feed == 1 and n % 4 == 0:
                    return self.answer(503, b"busy")
                if feed == 2 and n % 5 == 0:
                    return self.reset()
                if feed == 3 and n % 6 == 0:
                    return self.answer(200, b"<html>not a feed</html>", "application/rss+xml")
                return self.answer(200, world.feed(f"http://{host}", feed), "application/rss+xml")
            fate = world.fate(path)
            if (fate == "503-once" and n == 1) or (fate == "503-thrice" and n <= 3):
                return self.answer(503, b"busy")
            if fate == "reset-once" and n == 1:
                return self.reset()
            if fate == "404":
                return self.answer(404, b"gone")
            return self.answer(200, world.page(path))

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.handle_error = lambda *a: None  # type: ignore[method-assign]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def _status(field: str, pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _children_rss_mb() -> float:
    """Resident memory of every process below this one (the fork server, extraction
    processes, the resource tracker)."""
    me, parents = os.getpid(), {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    below, frontier = set(), {me}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - below
        below |= frontier
    total = 0
    for pid in below:
        with contextlib.suppress(OSError, ValueError):
            total += _status("VmRSS", pid)
    return round(total / 1024, 1)


def _probe() -> dict[str, Any]:
    return {
        "rss_mb": round(_status("VmRSS") / 1024, 1),
        "children_rss_mb": _children_rss_mb(),
        "fds": len(os.listdir("/proc/self/fd")),
        "threads": _status("Threads"),
    }


def run(cycles: int = 300, drain: int = 12, pause: float = 0.35) -> dict[str, Any]:
    logging.getLogger("monitor").setLevel(logging.ERROR)  # the failures are the point
    world = World()
    server, port = serve(world)
    tmp = Path(tempfile.mkdtemp(prefix="monitor-soak-"))
    lines = [CONFIG, "[seeds]", f'dir = "{ROOT / "seeds"}"']
    for f in range(FEEDS):
        host = "127.0.0.1" if f % 2 == 0 else "localhost"  # two hosts, one server
        lines += ["[[feeds]]", f'name = "s{f}"', f'url = "http://{host}:{port}/s{f}.xml"']
    config = tmp / "config.toml"
    config.write_text("\n".join(lines) + "\n")
    os.environ["MONITOR_ALLOW_HOSTS"] = "127.0.0.0/8"
    os.environ.pop("MONITOR_DATABASE_URL", None)
    subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(config), "init"],
        check=True,
        capture_output=True,
    )
    from monitor.run.context import AppContext
    from monitor.run.daemon import Daemon

    daemon = Daemon(AppContext(config))
    times: list[float] = []
    probes: dict[str, Any] = {}
    try:
        for c in range(cycles + drain):
            world.cycle = min(c, cycles - 1)  # the last `drain` cycles publish nothing new
            start = time.perf_counter()
            daemon.poll_job()
            times.append(time.perf_counter() - start)
            if c == 9:
                probes["after_10_cycles"] = _probe()
            if c == cycles - 1:
                probes["after_last_cycle"] = _probe()
            time.sleep(pause)
        probes["after_drain"] = _probe()
    finally:
        if daemon.poller is not None:
            daemon.poller.close()
        server.shutdown()
    published = world.published()
    with_text = [i for i in published if world.fate(i) != "404"]
    import sqlite3

    with sqlite3.connect(tmp / "data" / "monitor.db") as conn:
        urls = {u.split("/", 3)[3]: s for u, s in conn.execute("SELECT url, status FROM article")}
        waiting = conn.execute(
            "SELECT count(*) FROM article WHERE next_fetch_at IS NOT NULL"
        ).fetchone()[0]
    shutil.rmtree(tmp, ignore_errors=True)
    return {
        "cycles": cycles,
        "drain_cycles": drain,
        **{f"{when}_{k}": v for when, p in probes.items() for k, v in p.items()},
        "articles_expected": len(published),
        "articles_stored": sum(1 for i in published if i in urls),
        "pages_with_text_expected": len(with_text),
        "pages_with_text": sum(1 for i in with_text if urls.get(i) == "ok"),
        "pages_awaiting_retry_at_end": waiting,
        "cycle_ms_median": round(statistics.median(times[:cycles]) * 1000),
        "cycle_ms_p95": round(sorted(times[:cycles])[int(cycles * 0.95) - 1] * 1000),
        "cycle_ms_max": round(max(times[:cycles]) * 1000),
    }
