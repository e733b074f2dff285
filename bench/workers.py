"""Scaling out: articles per second with 1, 2 and 4 `monitor worker` processes (PostgreSQL +
Redis started from the Debian binaries, as in the tests) against one local site, and the
share of the workers' time spent in the database and waiting on the broker."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.localsite import Site
from bench.pipeline import ENV, ROOT, generated_pages, rss_feed, workdir

sys.path.insert(0, str(ROOT / "tests"))
SUMMARY = re.compile(r"worker stopped tasks=(\d+) wall_s=([\d.]+) busy_s=([\d.]+) db_s=([\d.]+)")


def _one(
    workers: int, pg: Any, redis: Any, base: str, feeds: list[tuple[str, str]]
) -> dict[str, Any]:
    url = pg.create_database()
    redis.flush()
    env = {**ENV, "MONITOR_DATABASE_URL": url, "MONITOR_BROKER_URL": redis.url}
    extra = "[schedule]\ntick_seconds = 1.0\n[fetch]\nper_host_delay = 0.0\n"
    tmp = workdir(feeds, extra)
    cmd = [sys.executable, "-m", "monitor", "--config", str(tmp / "config.toml")]
    subprocess.run([*cmd, "init"], env=env, check=True, capture_output=True)
    logs = [tmp / f"w{i}.log" for i in range(workers)]
    procs = [
        subprocess.Popen([*cmd, "worker"], env=env, stderr=open(log, "w"))  # noqa: SIM115
        for log in logs
    ]
    time.sleep(3.0)  # let the workers load their models before the clock starts
    start = time.perf_counter()
    sched = subprocess.Popen([*cmd, "run", "--scheduler-only"], env=env, stderr=subprocess.DEVNULL)
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    expected = len(feeds)
    while True:
        with engine.connect() as conn:
            done = conn.execute(
                text("SELECT count(*) FROM feed WHERE last_success IS NOT NULL")
            ).scalar_one()
            articles = conn.execute(text("SELECT count(*) FROM article")).scalar_one()
        if done >= expected:
            break
        time.sleep(0.2)
    seconds = time.perf_counter() - start
    engine.dispose()
    for p in [sched, *procs]:
        p.send_signal(signal.SIGTERM)
    for p in [sched, *procs]:
        p.wait(timeout=60)
    wall = busy = db = 0.0
    for log in logs:
        m = SUMMARY.search(Path(log).read_text())
        if m:
            wall += float(m.group(2))
            busy += float(m.group(3))
            db += float(m.group(4))
    return {
        "workers": workers,
        "articles": int(articles),
        "seconds": round(seconds, 2),
        "articles_per_s": round(articles / seconds, 1),
        "db_share_of_task_time": round(db / busy, 3) if busy else None,
        "broker_wait_share_of_worker_time": round(1 - busy / wall, 3) if wall else None,
    }


def throughput(n_feeds: int = 12, per_feed: int = 20) -> dict[str, Any]:
    from servers import start_postgres, start_redis, stop_postgres

    pages = generated_pages(n_feeds * per_feed)
    site = Site()
    names = list(pages)
    for name, body in pages.items():
        site.routes[f"/{name}"] = (body, "text/html; charset=utf-8")
    server, base = site.start()
    feeds = []
    for f in range(n_feeds):
        links = [f"{base}/{n}" for n in names[f * per_feed : (f + 1) * per_feed]]
        site.routes[f"/feed{f}.xml"] = (rss_feed(base, f"f{f}", links), "application/rss+xml")
        feeds.append((f"feed{f}", f"{base}/feed{f}.xml"))
    pg, redis = start_postgres(), start_redis()
    try:
        runs = [_one(n, pg, redis, base, feeds) for n in (1, 2, 4)]
    finally:
        redis.process.kill()
        stop_postgres(pg)
        server.shutdown()
    return {"articles": n_feeds * per_feed, "runs": runs}
