"""End-to-end and polling benchmarks: `monitor poll --all` against local servers.

Every figure is a ratio against a baseline measured in the same run (the machines are
shared and noisy), and every measurement is the median of several runs.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trafilatura

from bench.localsite import REALWORLD, Site, load_pages

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "MONITOR_ALLOW_HOSTS": "127.0.0.0/8"}


def median_of(runs: int, fn: Callable[[], float]) -> float:
    return statistics.median(fn() for _ in range(runs))


def rss_feed(base: str, title: str, links: list[str]) -> bytes:
    items = "".join(
        f"<item><title>{title} item {i}</title><link>{link}</link><guid>{link}</guid>"
        f"<pubDate>Tue, 04 Mar 2025 {i % 24:02d}:00:00 GMT</pubDate>"
        f"<description>Summary of item {i} of {title}.</description></item>"
        for i, link in enumerate(links)
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{title}</title><link>{base}/</link><description>d</description>"
        f"{items}</channel></rss>"
    ).encode()


def generated_pages(n: int) -> dict[str, bytes]:
    """Pages of realistic size when ../shared is absent (real vocabulary from the seeds)."""
    words = " ".join(p.read_text() for p in (ROOT / "seeds").glob("*.txt")).split()
    pages = {}
    for i in range(n):
        paras = "".join(
            "<p>" + " ".join(words[(i * 131 + j * 57 + k) % len(words)] for k in range(90)) + "</p>"
            for j in range(8)
        )
        pages[f"g{i}"] = (
            f"<html><head><title>Story {i}</title></head><body><nav>Home News"
            f"</nav><article><h1>Story {i}</h1>{paras}</article><footer>(c) site"
            f"</footer></body></html>"
        ).encode()
    return pages


def workdir(feed_urls: list[tuple[str, str]], extra: str = "") -> Path:
    tmp = Path(tempfile.mkdtemp(prefix="monitor-bench-"))
    lines = [extra, "[seeds]", f'dir = "{ROOT / "seeds"}"']
    for name, url in feed_urls:
        lines += ["[[feeds]]", f'name = "{name}"', f'url = "{url}"']
    (tmp / "config.toml").write_text("\n".join(lines) + "\n")
    return tmp


def _descendants(root: int) -> dict[int, tuple[float, int, int]]:
    """(CPU seconds so far, resident KiB, parent pid) of every process below `root` (Linux
    /proc)."""
    children: dict[int, list[tuple[int, float, int]]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks = int(fields[11]) + int(fields[12])
        rss_kib = int(fields[21]) * _PAGE_KIB
        children.setdefault(int(fields[1]), []).append((int(name), ticks / _TICKS, rss_kib))
    found: dict[int, tuple[float, int, int]] = {}
    todo = [root]
    while todo:
        parent = todo.pop()
        for pid, cpu, rss in children.get(parent, []):
            found[pid] = (cpu, rss, parent)
            todo.append(pid)
    return found


def _role(pid: int, parent: int, roles: dict[int, str], top: int) -> str:
    """Which of the run's processes `pid` is: the polling process (`monitor` itself), the
    fork server, an extraction process (forked by the server) or another helper (the
    multiprocessing resource tracker)."""
    if pid in roles:
        return roles[pid]
    if parent == top:
        role = "polling"
    elif roles.get(parent) == "fork_server":
        role = "extraction"
    else:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            cmdline = b""
        role = "fork_server" if b"forkserver" in cmdline else "other"
    roles[pid] = role
    return role


def _pss_kib(pid: int) -> int:
    """Proportional set size: pages shared by n processes count 1/n in each, so the sum over
    processes is the memory they use together."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE_KIB = (os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096) // 1024
# Of the last `monitor` run, sampled every 20 ms over all its processes: CPU seconds, the
# peak of their summed proportional memory (PSS) and the peak RSS of any one extraction
# process (KiB).
LAST_CPU: list[float] = []
LAST_RSS: list[int] = []
# The same CPU seconds by process role (`_role`): polling, fork_server, extraction, other.
LAST_CPU_BY_ROLE: dict[str, float] = {}


def monitor(tmp: Path, *args: str) -> tuple[float, int]:
    """Run `monitor ARGS`; return wall seconds and the peak RSS (KiB) of the main process.
    The CPU seconds of all its processes (sampled every 20 ms) go to LAST_CPU."""
    cmd = [sys.executable, "-m", "monitor", "--config", str(tmp / "config.toml"), *args]
    wrapper = [
        sys.executable,
        "-c",
        "import resource,subprocess,sys;"
        "r=subprocess.run(sys.argv[1:]);"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr);"
        "sys.exit(r.returncode)",
        *cmd,
    ]
    start = time.perf_counter()
    # Output to a file, not a pipe: a pipe nobody reads until the end would fill and block.
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(wrapper, env=ENV, stdout=subprocess.DEVNULL, stderr=log)
        cpu: dict[int, float] = {}
        roles: dict[int, str] = {}
        peak_total, peak_worker = 0, 0
        while proc.poll() is None:
            sample = _descendants(proc.pid)
            cpu.update({pid: c for pid, (c, _, _) in sample.items()})
            for pid, (_, _, parent) in sample.items():
                _role(pid, parent, roles, proc.pid)
            mine = sorted(sample)
            peak_total = max(peak_total, sum(_pss_kib(p) for p in mine))
            peak_worker = max(
                [peak_worker, *(sample[p][1] for p in mine if roles[p] == "extraction")]
            )
            time.sleep(0.02)
        seconds = time.perf_counter() - start
        log.seek(0)
        err = log.read()
    LAST_CPU[:] = [sum(cpu.values())]
    LAST_CPU_BY_ROLE.clear()
    for pid, seconds_cpu in cpu.items():
        role = roles.get(pid, "other")
        LAST_CPU_BY_ROLE[role] = LAST_CPU_BY_ROLE.get(role, 0.0) + seconds_cpu
    LAST_RSS[:] = [peak_total, peak_worker]
    if proc.returncode != 0:
        raise RuntimeError(f"monitor {' '.join(args)} failed: {err[-2000:]}")
    return seconds, int(err.strip().splitlines()[-1])


def distinct_copy(html: bytes, copy: int) -> bytes:
    """The page with a comment naming the copy at its end: the same article, other bytes
    (nothing keyed on the page's bytes can recognise a copy)."""
    return html + f"\n<!-- copy {copy} -->\n".encode()


def serve_e2e(
    latency: float = 0.05, copies: int = 5, per_feed: int = 20
) -> tuple[Any, list[str], list[bytes], list[tuple[str, str]]]:
    """The end-to-end layout, served: the real pages of ../shared/realworld (generated ones
    without it) as `copies` byte-distinct copies, each on a loopback host of its own, in
    feeds of `per_feed` on other hosts. (server, page URLs, page bodies, (name, feed URL))."""
    real = (REALWORLD / "pages").is_dir()
    pages = load_pages() if real else generated_pages(88)
    site = Site(latency=latency, host="0.0.0.0")
    server, base = site.start()
    port = base.rsplit(":", 1)[1]
    urls: list[str] = []
    bodies: list[bytes] = []
    for c in range(copies):
        for key, html in pages.items():
            n = len(urls)
            host = f"127.0.{1 + n // 250}.{2 + n % 250}"
            body = distinct_copy(html, c)
            site.routes[f"/p/{c}/{key}"] = (body, "text/html; charset=utf-8")
            urls.append(f"http://{host}:{port}/p/{c}/{key}")
            bodies.append(body)
    feeds = []
    for i, n in enumerate(range(0, len(urls), per_feed)):
        host = f"127.0.9.{2 + i % 250}"
        site.routes[f"/feed/{n}.xml"] = (
            rss_feed(f"http://{host}:{port}", f"feed {n}", urls[n : n + per_feed]),
            "application/rss+xml",
        )
        feeds.append((f"feed-{n}", f"http://{host}:{port}/feed/{n}.xml"))
    return server, urls, bodies, feeds


def end_to_end(
    runs: int = 3, latency: float = 0.05, copies: int = 5, per_feed: int = 20
) -> dict[str, Any]:
    """`monitor poll --all` with the default configuration over the real pages of
    ../shared/realworld, each served as `copies` byte-distinct copies, every page on a
    loopback host of its own (127.0.x.y, as an aggregator's feed links many sites; the
    default per-host politeness then holds nothing up), the feeds on other hosts, 50 ms
    latency per response. Against a plain single-process trafilatura.extract loop over the
    same HTML, in the same run."""
    real = (REALWORLD / "pages").is_dir()
    server, urls, bodies, feeds = serve_e2e(latency, copies, per_feed)

    def baseline() -> float:
        start, cpu = time.perf_counter(), time.process_time()
        for html in bodies:
            trafilatura.extract(html)
        base_cpu.append(time.process_time() - cpu)
        return time.perf_counter() - start

    def pipeline(extra: str = "") -> float:
        tmp = workdir(feeds, extra)
        try:
            monitor(tmp, "init")
            seconds, _ = monitor(tmp, "poll", "--all")
            with sqlite3.connect(tmp / "data" / "monitor.db") as db:
                stored = db.execute("SELECT count(*) FROM article").fetchone()[0]
                # Documents that needed the transformer: those the cheap layers decided
                # alone keep an empty embedding.
                docs, embedded, english = db.execute(
                    "SELECT count(*), coalesce(sum(length(embedding) > 0), 0),"
                    " coalesce(sum(length(embedding_en) > 0), 0) FROM dedup_doc"
                    " WHERE ref_kind = 'article'"
                ).fetchone()
            assert stored == len(urls), (stored, len(urls))
            cpu_runs.setdefault(extra, []).append(LAST_CPU[0])
            roles_runs.setdefault(extra, []).append(dict(LAST_CPU_BY_ROLE))
            embedded_runs.setdefault(extra, []).append((docs, embedded, english))
            return seconds
        finally:
            shutil.rmtree(tmp)

    base_cpu: list[float] = []
    cpu_runs: dict[str, list[float]] = {}
    roles_runs: dict[str, list[dict[str, float]]] = {}
    embedded_runs: dict[str, list[tuple[int, int, int]]] = {}
    static = '[dedup]\nembedder = "static"\n'
    try:
        base_s = median_of(runs, baseline)
        pipe_s = median_of(runs, pipeline)
        static_s = pipeline(static)  # once: a comparison, and the section stays short
    finally:
        server.shutdown()
    cpu_s = statistics.median(cpu_runs[""])
    base_cpu_s = statistics.median(base_cpu)
    by_role = {
        role: round(statistics.median(r.get(role, 0.0) for r in roles_runs[""]), 2)
        for role in ("polling", "fork_server", "extraction", "other")
    }
    docs, embedded, english = embedded_runs[""][-1]
    return {
        "pages": len(urls),
        "copies": copies,
        "hosts": len(urls) + len(feeds),
        "real_pages": real,
        "latency_ms": latency * 1000,
        "baseline_s": round(base_s, 2),
        "baseline_ms_per_page": round(1000 * base_s / len(urls), 1),
        "pipeline_s": round(pipe_s, 2),
        "ratio": round(pipe_s / base_s, 3),
        "goal": "<= 0.6",
        # Where the time goes: CPU seconds of all the pipeline's processes, against the
        # loop's CPU seconds (its wall time on an idle machine; more on a loaded one).
        "baseline_cpu_s": round(base_cpu_s, 2),
        "pipeline_cpu_s": round(cpu_s, 2),
        "cpu_ratio": round(cpu_s / base_cpu_s, 3),
        "cpu_goal": "<= 1.3",
        # The same CPU seconds by process (medians of the runs, so they need not add up).
        "cpu_s_polling_process": by_role["polling"],
        "cpu_s_fork_server": by_role["fork_server"],
        "cpu_s_extraction_processes": by_role["extraction"],
        "cpu_s_other": by_role["other"],
        "extraction_ms_per_page": round(1000 * by_role["extraction"] / len(urls), 1),
        # Share of the articles' dedup documents with a transformer embedding.
        "articles_embedded": f"{embedded} of {docs}",
        "share_embedded": round(embedded / docs, 3) if docs else None,
        # ... and with the English model's (`dedup.english_embedder`, English pairs only).
        "articles_embedded_english_model": f"{english} of {docs}",
        # The same with dedup.embedder = "static" (faster, less accurate same-story layer),
        # one run.
        "static_pipeline_s": round(static_s, 2),
        "static_ratio": round(static_s / base_s, 3),
        "static_cpu_ratio": round(statistics.median(cpu_runs[static]) / base_cpu_s, 3),
    }


def many_feeds(
    n_feeds: int = 1000, items: int = 20, hosts: int = 500, latency: float = 0.05, runs: int = 3
) -> dict[str, Any]:
    """1,000 feeds over many loopback hosts: first cycle (200, entries known) and 304 cycle."""
    site = Site(latency=latency, host="0.0.0.0")
    server, base = site.start()
    port = base.rsplit(":", 1)[1]
    feeds = []
    links_of: dict[str, list[str]] = {}
    for i in range(n_feeds):
        host = f"127.0.{1 + (i % hosts) // 250}.{2 + (i % hosts) % 250}"
        links = [f"http://{host}:{port}/nolink/{i}/{j}" for j in range(items)]
        links_of[f"feed-{i}"] = links
        site.routes[f"/f/{i}.xml"] = (
            rss_feed(f"http://{host}:{port}", f"feed {i}", links),
            "application/rss+xml",
        )
        feeds.append((f"feed-{i}", f"http://{host}:{port}/f/{i}.xml"))
    tmp = workdir(feeds, "[fetch]\nconcurrency = 64\n")
    try:
        monitor(tmp, "init")
        db = tmp / "data" / "monitor.db"
        # Entries known beforehand, so the cycles below measure feed work only.
        with sqlite3.connect(db) as conn:
            conn.execute(
                "INSERT INTO feed (name, url, consecutive_failures, failure_score, entries)"
                " VALUES " + ",".join("(?, ?, 0, 0, 0)" for _ in feeds),
                [v for f in feeds for v in f],
            )
            ids = dict(conn.execute("SELECT name, id FROM feed"))
            conn.executemany(
                "INSERT INTO entry (feed_id, guid, link) VALUES (?, ?, ?)",
                [(ids[name], link, link) for name, links in links_of.items() for link in links],
            )

        def first() -> float:
            with sqlite3.connect(db) as conn:
                conn.execute("UPDATE feed SET etag = NULL, last_modified = NULL")
            return monitor(tmp, "poll", "--all")[0]

        def unchanged() -> float:
            return monitor(tmp, "poll", "--all")[0]

        first_s = median_of(runs, first)
        monitor(tmp, "poll", "--all")  # make sure ETags are stored
        requests = site.requests
        cycle_s = median_of(runs, unchanged)
        per_cycle = (site.requests - requests) / runs
        with sqlite3.connect(db) as conn:
            articles = conn.execute("SELECT count(*) FROM article").fetchone()[0]
        assert articles == 0, "entries were known: no page may be fetched"
        startup_s = median_of(runs, lambda: monitor(tmp, "status")[0])
    finally:
        server.shutdown()
        shutil.rmtree(tmp)
    return {
        "feeds": n_feeds,
        "hosts": hosts,
        "latency_ms": latency * 1000,
        "first_cycle_s": round(first_s, 2),
        "goal_first": "<= 8",
        "not_modified_cycle_s": round(cycle_s, 2),
        "goal_304": "<= 3",
        "requests_per_cycle": per_cycle,
        "cli_startup_s": round(startup_s, 2),
    }


def memory(n_articles: int = 10_000, per_feed: int = 50, embedder: str = "muse") -> dict[str, Any]:
    """Peak RSS of `monitor poll` storing n articles, and of a second poll on a bigger DB."""
    pages = generated_pages(200)
    site = Site()
    server, base = site.start()
    keys = list(pages)

    def serve(prefix: str, count: int) -> list[tuple[str, str]]:
        urls = []
        for i in range(count):
            key = keys[i % len(keys)]
            site.routes[f"/{prefix}/{i}"] = (pages[key], "text/html")
            urls.append(f"{base}/{prefix}/{i}")
        feeds = []
        for n in range(0, count, per_feed):
            path = f"/{prefix}-feed/{n}.xml"
            site.routes[path] = (
                rss_feed(base, f"{prefix} {n}", urls[n : n + per_feed]),
                "application/rss+xml",
            )
            feeds.append((f"{prefix}-{n}", f"{base}{path}"))
        return feeds

    first = serve("a", n_articles)
    second = serve("b", n_articles // 5)
    extra = "[fetch]\nper_host_delay = 0.0\nper_host_concurrency = 16\n"
    tmp = workdir(first + second, extra + f'[dedup]\nembedder = "{embedder}"\n')
    try:
        monitor(tmp, "init")
        cfg = (tmp / "config.toml").read_text()
        # Poll the first batch only, then the second batch against the grown database.
        only_first = cfg.split('name = "b-0"')[0].rsplit("[[feeds]]", 1)[0]
        (tmp / "config.toml").write_text(only_first)
        s1, rss1 = monitor(tmp, "poll", "--all")
        total1, worker1 = LAST_RSS
        (tmp / "config.toml").write_text(cfg)
        _s2, rss2 = monitor(tmp, "poll", "--all")
        total2, _ = LAST_RSS
        with sqlite3.connect(tmp / "data" / "monitor.db") as db:
            stored = db.execute("SELECT count(*) FROM article").fetchone()[0]
    finally:
        server.shutdown()
        shutil.rmtree(tmp)
    return {
        "embedder": embedder,
        "articles": stored,
        "peak_rss_mb_10k": round(rss1 / 1024, 1),
        "peak_rss_mb_next_2k_on_10k_db": round(rss2 / 1024, 1),
        "goal": "<= 400",
        # With the extraction processes: the sampled peak of their summed PSS.
        "peak_pss_mb_all_processes_10k": round(total1 / 1024, 1),
        "peak_pss_mb_all_processes_next_2k": round(total2 / 1024, 1),
        "peak_rss_mb_one_extraction_process": round(worker1 / 1024, 1),
        "seconds_10k": round(s1, 1),
    }
