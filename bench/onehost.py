"""`python -m bench one-host`: one feed with 500 new entries whose pages are all on one host,
default politeness (`per_host_delay = 1.0`, two at a time), next to a small feed on another
host. Every page must be fetched and extracted (the deadline measures the request, not the
wait for the host's slot), and the other host's pages must not wait behind them."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.soak import ROOT, World, serve


def run(entries: int = 500, others: int = 20) -> dict[str, Any]:
    world = World()
    server, port = serve(world)

    def feed(host: str, name: str, n: int) -> bytes:
        items = "".join(
            f"<item><title>Item {name}-{i}</title><link>http://{host}:{port}/{name}/p{i}</link>"
            f"<description>Summary {i}.</description></item>"
            for i in range(n)
        )
        return f'<rss version="2.0"><channel><title>{name}</title>{items}</channel></rss>'.encode()

    # The soak world's pages are all "ok" under these names, feeds served from files here.
    tmp = Path(tempfile.mkdtemp(prefix="monitor-onehost-"))
    (tmp / "big.xml").write_bytes(feed("127.0.0.1", "big", entries))
    (tmp / "small.xml").write_bytes(feed("localhost", "small", others))
    files = subprocess.Popen(
        [sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1"],
        cwd=tmp,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert files.stdout is not None
    line = files.stdout.readline()  # "Serving HTTP on 127.0.0.1 port N ..."
    files_port = int(line.split(" port ")[1].split()[0])
    world.fate = lambda item: "ok"  # type: ignore[method-assign]
    config = tmp / "config.toml"
    config.write_text(
        f'[seeds]\ndir = "{ROOT / "seeds"}"\n[dedup]\nembedder = "static"\n'
        f'[[feeds]]\nname = "big"\nurl = "http://127.0.0.1:{files_port}/big.xml"\n'
        f'[[feeds]]\nname = "small"\nurl = "http://localhost:{files_port}/small.xml"\n'
    )
    env = {**os.environ, "MONITOR_ALLOW_HOSTS": "127.0.0.0/8"}
    env.pop("MONITOR_DATABASE_URL", None)
    monitor = [sys.executable, "-m", "monitor", "--config", str(config)]
    subprocess.run([*monitor, "init"], check=True, capture_output=True, env=env)
    start = time.time()
    done = subprocess.run([*monitor, "poll", "--all"], capture_output=True, text=True, env=env)
    took = time.time() - start
    files.terminate()
    server.shutdown()
    with sqlite3.connect(tmp / "data" / "monitor.db") as conn:
        rows = conn.execute("SELECT url, status, fetched FROM article").fetchall()
    waits = [ln for ln in done.stderr.splitlines() if "waiting for their host" in ln]
    shutil.rmtree(tmp, ignore_errors=True)

    def seconds(when: str) -> float:
        return datetime.fromisoformat(when).timestamp() - start

    big = [r for r in rows if "/big/" in r[0]]
    small = [r for r in rows if "/small/" in r[0]]
    return {
        "exit_code": done.returncode,
        "seconds": round(took, 1),
        "big_feed_articles": len(big),
        "big_feed_pages_with_text": sum(1 for r in big if r[1] == "ok"),
        "other_host_articles": len(small),
        "other_host_pages_with_text": sum(1 for r in small if r[1] == "ok"),
        "other_host_all_stored_after_s": round(max(seconds(r[2] + "+00:00") for r in small), 1)
        if small
        else None,
        "queue_log_lines": len(waits),
        "first_queue_log_line": waits[0] if waits else None,
    }
