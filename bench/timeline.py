"""When the extraction processes wait for the writer: `monitor poll --all` over the layout of
`python -m bench e2e` (88 real pages x 5 copies on 440 loopback hosts, 50 ms latency), with
each page's times recorded in the polling process: sent to an extraction process, back,
stored. Prints, every half second, the pages in the processes' hands, the articles stored
and the share of the time the writer spent storing; then the stores that took longest and
the CPU seconds of each kind of process.

    python -m bench.timeline [--every 0.5]

A row with few pages in the processes' hands while the writer is busy 100% is time the
processes sat idle behind a store (a model loading, a long run). A diagnostic, not a
figure of `make bench`.
"""

from __future__ import annotations

import argparse
import bisect
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def record(out: str, argv: list[str]) -> None:
    """In the polling process: run the CLI with `argv`, the page stages timed, the events
    written to `out` at the end."""
    from monitor.run import pages

    start = time.perf_counter()
    events: list[list[Any]] = []
    sent = pages.PageStages._extract
    stored = pages.PageStages._on_extracted

    def now() -> float:
        return time.perf_counter() - start

    def extract(self: Any, page: Any, pending: dict[Any, Any]) -> None:
        sent(self, page, pending)
        future = next(f for f, (kind, p) in pending.items() if kind == "extract" and p is page)
        events.append(["sent", now()])
        future.add_done_callback(lambda _: events.append(["back", now()]))

    def on_extracted(self: Any, *args: Any, **kwargs: Any) -> None:
        began = now()
        stored(self, *args, **kwargs)
        events.append(["stored", began, now()])

    pages.PageStages._extract = extract  # type: ignore[method-assign]
    pages.PageStages._on_extracted = on_extracted  # type: ignore[method-assign]
    from monitor.cli import main

    sys.argv = ["monitor", *argv]
    try:
        main()
    finally:
        Path(out).write_text(json.dumps(events))


def report(events: list[list[Any]], every: float) -> None:
    sent = sorted(e[1] for e in events if e[0] == "sent")
    back = sorted(e[1] for e in events if e[0] == "back")
    stores = [(e[1], e[2]) for e in events if e[0] == "stored"]
    if not stores:
        print("nothing stored")
        return
    end = max(b for _, b in stores)
    print(f"first page sent to a process at {sent[0]:.1f} s; last stored at {end:.1f} s")
    print(f"{'s':>6} {'in processes':>12} {'stored':>7} {'writer busy':>11}")
    t = 0.0
    while t < end + every:
        held = bisect.bisect(sent, t) - bisect.bisect(back, t)
        done = sum(1 for _, b in stores if b <= t)
        busy = sum(min(b, t + every) - max(a, t) for a, b in stores if b > t and a < t + every)
        print(f"{t:6.1f} {held:12d} {done:7d} {busy / every:11.0%}")
        t += every
    longest = sorted(stores, key=lambda s: s[0] - s[1])[:5]
    print("longest stores:", ", ".join(f"{b - a:.2f} s at {a:.1f} s" for a, b in longest))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--every", type=float, default=0.5, help="seconds a row")
    args = parser.parse_args()
    from bench import pipeline

    server, urls, _, feeds = pipeline.serve_e2e()
    tmp = pipeline.workdir(feeds)
    events = Path(tempfile.mkstemp(suffix=".json")[1])
    try:
        config = ["--config", str(tmp / "config.toml")]
        subprocess.run(
            [sys.executable, "-m", "monitor", *config, "init"],
            env=pipeline.ENV,
            check=True,
            capture_output=True,
        )
        # Through a wrapper, as `bench e2e` does: the CPU of every process below it is read.
        child = [sys.executable, "-m", "bench.timeline", "--record", str(events), "--"]
        cmd = [sys.executable, "-c", _WRAPPER, *child, *config, "poll", "--all"]
        proc = subprocess.Popen(cmd, env=pipeline.ENV, stderr=subprocess.DEVNULL)
        cpu: dict[int, float] = {}
        roles: dict[int, str] = {}
        while proc.poll() is None:
            for pid, (seconds, _, parent) in pipeline._descendants(proc.pid).items():
                cpu[pid] = seconds
                pipeline._role(pid, parent, roles, proc.pid)
            time.sleep(0.05)
        if proc.returncode != 0:
            raise SystemExit(f"monitor poll failed ({proc.returncode})")
        with sqlite3.connect(tmp / "data" / "monitor.db") as db:
            count = db.execute("SELECT count(*) FROM article").fetchone()[0]
        print(f"{count} of {len(urls)} pages stored")
        report(json.loads(events.read_text()), args.every)
        by_role: dict[str, float] = {}
        for pid, seconds in cpu.items():
            role = roles.get(pid, "other")
            by_role[role] = by_role.get(role, 0.0) + seconds
        print("CPU s:", ", ".join(f"{r} {s:.1f}" for r, s in sorted(by_role.items())))
    finally:
        server.shutdown()
        shutil.rmtree(tmp)
        events.unlink(missing_ok=True)


_WRAPPER = "import subprocess,sys; sys.exit(subprocess.run(sys.argv[1:]).returncode)"

if __name__ == "__main__":  # the fork server's children import this module: nothing runs
    if len(sys.argv) > 3 and sys.argv[1] == "--record" and sys.argv[3] == "--":
        record(sys.argv[2], sys.argv[4:])
    else:
        main()
