"""Extraction quality on real pages (../shared/realworld), directly and through the pipeline.

1. trafilatura alone in each mode (default, precision, fast) on the 88 benchmark pages:
   F1 with the Article Extraction Benchmark's metric and pages per second.
2. The full pipeline: the real feeds of ../shared/realworld/feeds, their item links
   rewritten to the pages, served from 127.0.0.1; `monitor init` + `monitor poll --all` on a
   fresh database; every feed must parse or be recorded as failing with a reason; the stored
   text of each page is scored with the same metric.

Usage: python eval/eval_extract.py   (skips with a message when ../shared is absent)
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.localsite import (  # noqa: E402
    REALWORLD,
    Site,
    ground_truth,
    load_pages,
    realworld_feeds,
    rewrite_links,
)
from monitor.extract.page import extract_article  # noqa: E402

_WORD = re.compile(r"\w+")


def _shingles(text: str, n: int = 4) -> Counter[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    return Counter(tuple(words[i : i + n]) for i in range(max(1, len(words) - n + 1)))


def page_scores(predicted: str, truth: str) -> tuple[float, float]:
    """The benchmark's per-page precision and recall (TP/FP/FN normalised to sum to 1)."""
    p, t = _shingles(predicted), _shingles(truth)
    tp = sum((p & t).values())
    fp = sum((p - t).values())
    fn = sum((t - p).values())
    total = tp + fp + fn
    if total == 0:
        return 1.0, 1.0
    tp, fp, fn = tp / total, fp / total, fn / total
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return precision, recall


def f1_of(results: dict[str, str], truth: dict[str, str]) -> tuple[float, float, float]:
    scores = [page_scores(results.get(k, ""), v) for k, v in truth.items()]
    p = sum(s[0] for s in scores) / len(scores)
    r = sum(s[1] for s in scores) / len(scores)
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def direct(pages: dict[str, bytes], truth: dict[str, str]) -> None:
    print("trafilatura alone (single process):")
    print(f"  {'mode':<10} {'precision':>9} {'recall':>7} {'F1':>6} {'pages/s':>8}")
    for mode in ("default", "precision", "fast"):
        start = time.perf_counter()
        out = {}
        for key, html in pages.items():
            doc = extract_article(html, None, mode)
            out[key] = doc.text if doc else ""
        rate = len(pages) / (time.perf_counter() - start)
        p, r, f = f1_of(out, truth)
        print(f"  {mode:<10} {p:9.3f} {r:7.3f} {f:6.3f} {rate:8.1f}")


def pipeline(pages: dict[str, bytes], truth: dict[str, str]) -> None:
    site = Site()
    server, base = site.start()
    ids = list(pages)
    for key, html in pages.items():
        site.routes[f"/p/{key}"] = (html, "text/html; charset=utf-8")
    urls = [f"{base}/p/{key}" for key in ids]
    offset = 0
    feed_lines = []
    for n, path in enumerate(realworld_feeds()):
        data, used = rewrite_links(path.read_bytes(), urls[offset:] + urls[:offset])
        offset = (offset + used) % len(urls)
        route = f"/f/{n}/{path.name}"
        site.routes[route] = (data, "application/xml")
        name = f"{path.parent.name}/{path.name}"
        feed_lines += ["[[feeds]]", f'name = "{name}"', f'url = "{base}{route}"']
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "config.toml"
        cfg.write_text(
            "\n".join(
                [
                    "[fetch]",
                    "per_host_delay = 0.0",
                    "per_host_concurrency = 8",
                    "[seeds]",
                    f'dir = "{ROOT / "seeds"}"',
                    *feed_lines,
                ]
            )
            + "\n"
        )
        env = {**os.environ, "MONITOR_ALLOW_HOSTS": "127.0.0.1"}
        cmd = [sys.executable, "-m", "monitor", "--config", str(cfg)]
        subprocess.run([*cmd, "init"], check=True, env=env, capture_output=True)
        start = time.perf_counter()
        run = subprocess.run([*cmd, "poll", "--all"], env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        print(
            f"\npipeline: `monitor poll --all` over {len(feed_lines) // 3} real feeds "
            f"-> exit {run.returncode} in {seconds:.1f}s; {run.stdout.strip()}"
        )
        with sqlite3.connect(Path(tmp) / "data" / "monitor.db") as db:
            feeds = db.execute(
                "SELECT name, consecutive_failures, last_error, problem, entries "
                "FROM feed ORDER BY name"
            ).fetchall()
            stored = {
                url.rsplit("/", 1)[1]: text
                for url, text in db.execute(
                    "SELECT canonical_url, text FROM article WHERE url LIKE ?", (f"{base}/p/%",)
                )
            }
    ok = [f for f in feeds if not f[1]]
    print(f"  feeds: {len(ok)} parsed, {len(feeds) - len(ok)} recorded as failing")
    for name, failures, error, problem, entries in feeds:
        if failures:
            print(f"    failing  {name}: {error}")
        elif problem:
            print(f"    problem  {name} ({entries} entries): {problem[:90]}")
    covered = {k: v for k, v in truth.items() if k in stored}
    p, r, f = f1_of(stored, covered)
    print(
        f"  pages stored: {len(stored)} of {len(pages)}; extraction through the pipeline: "
        f"precision {p:.3f} recall {r:.3f} F1 {f:.3f}"
    )
    server.shutdown()


def main() -> None:
    if not (REALWORLD / "pages").is_dir():
        print(f"skipped: {REALWORLD} not found (it is not part of the project)")
        return
    pages, truth = load_pages(), ground_truth()
    direct(pages, truth)
    pipeline(pages, truth)


if __name__ == "__main__":
    main()
