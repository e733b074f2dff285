"""feedparser's own test corpus through the full ingest (issue 7, case 7).

Serves every file of ../shared/feedparser-corpus from a local HTTP server with the headers it
declares (`Header:` lines), polls them all with `monitor poll --all` into a fresh SQLite file,
and reports: exceptions (none allowed), feeds ok / failing and why, every stored field is
text, charsets decoded like feedparser decodes the file itself (no mojibake), entries of
ill-formed feeds kept with `feed.problem` set, sanitised content still sanitised.

No network: every host name resolves to 127.0.0.1 in this process, so article links in the
corpus (example.com…) fail fast on a closed local port instead of reaching the internet.

    .venv/bin/python eval/eval_feedcorpus.py [CORPUS_DIR]
"""

from __future__ import annotations

import collections
import os
import re
import socket
import sqlite3
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import feedparser

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.cli import main  # noqa: E402
from monitor.feeds.parse import plain_text  # noqa: E402

CORPUS = ROOT.parent / "shared" / "feedparser-corpus"
HEADER = re.compile(rb"^Header:\s*([^:\r\n]+):[ \t]*(.*?)\s*$", re.MULTILINE)
MOJIBAKE = re.compile("[ÂÃ][\u0080-\u00bf]|â€|\ufffd")


def declared_headers(raw: bytes) -> list[tuple[str, str]]:
    head = raw[:2048]
    return [(k.decode("latin-1").strip(), v.decode("latin-1")) for k, v in HEADER.findall(head)]


def serve(files: dict[str, Path]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = files.get(self.path)
            if path is None:
                self.send_error(404)
                return
            raw = path.read_bytes()
            headers = declared_headers(raw)
            self.send_response(200)
            if not any(k.lower() == "content-type" for k, _ in headers):
                self.send_header("Content-Type", "application/xml")
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args: Any) -> None:
            pass

    ThreadingHTTPServer.request_queue_size = 256  # 16 parallel fetches, no keep-alive
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def no_network() -> None:
    real = socket.getaddrinfo

    def local(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        return real("127.0.0.1", port, *args, **kwargs)

    socket.getaddrinfo = local  # type: ignore[assignment]


def text_problems(conn: sqlite3.Connection) -> tuple[int, int, collections.Counter[str]]:
    """(values checked, non-text values, problems by kind) over every column of the ingest."""
    checked, bad = 0, 0
    kinds: collections.Counter[str] = collections.Counter()
    text_cols = {
        "feed": ["name", "url", "title", "site_url", "etag", "last_modified", "last_error", "problem"],
        "entry": ["guid", "link"],
        "article": ["guid", "url", "canonical_url", "title", "author", "site_name", "language",
                    "summary", "text", "extraction", "status", "error"],
    }  # fmt: skip
    for table, cols in text_cols.items():
        for col in cols:
            for value, kind in conn.execute(f"SELECT {col}, typeof({col}) FROM {table}"):
                checked += 1
                if kind not in ("text", "null"):
                    bad += 1
                    kinds[f"{table}.{col} stored as {kind}"] += 1
                    continue
                if value is None:
                    continue
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    kinds[f"{table}.{col}: lone surrogate"] += 1
                if re.search("[\x00-\x08\x0b\x0c\x0e-\x1f]", value):
                    kinds[f"{table}.{col}: control character"] += 1
                if table == "article" and "<script" in value.lower():
                    kinds[f"{table}.{col}: <script survived"] += 1
    return checked, bad, kinds


def run(corpus: Path) -> int:
    files = sorted(p for p in corpus.rglob("*.xml") if p.is_file())
    if not files:
        print(f"no corpus at {corpus}: nothing to do")
        return 0
    routes = {f"/{i}": p for i, p in enumerate(files)}
    server = serve(routes)
    no_network()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    work = Path(tempfile.mkdtemp(prefix="feedcorpus-"))
    os.environ["MONITOR_ALLOW_HOSTS"] = "127.0.0.1"
    os.environ["MONITOR_SEEDS_DIR"] = str(work / "no-seeds")
    lines = [
        "[fetch]", "per_host_delay = 0.0", "per_host_concurrency = 16", "concurrency = 16",
        "deadline = 10.0", "connect_timeout = 2.0", "read_timeout = 5.0",
        "[extract]", "workers = 1", "[schedule]", "jitter = 0.0",
    ]  # fmt: skip
    names = {}
    for route, path in routes.items():
        name = str(path.relative_to(corpus))
        names[name] = path
        lines += ["[[feeds]]", f"name = {name!r}", f'url = "{base}{route}"']
    config = work / "config.toml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (work / "no-seeds").mkdir()
    (work / "no-seeds" / "topics.toml").write_text((ROOT / "seeds" / "topics.toml").read_text())

    def cli(*args: str) -> int:
        try:
            main(["--config", str(config), *args])
        except SystemExit as exc:
            return int(exc.code or 0)
        return 0

    start = time.monotonic()
    assert cli("init") == 0
    code = cli("poll", "--all")
    took = time.monotonic() - start
    server.shutdown()

    conn = sqlite3.connect(work / "data" / "monitor.db")
    feeds = {
        name: (title, problem, error, entries)
        for name, title, problem, error, entries in conn.execute(
            "SELECT name, title, problem, last_error, entries FROM feed"
        )
    }
    ok = sum(1 for f in feeds.values() if f[2] is None)
    errors = collections.Counter(
        re.sub(r"\(.*", "", f[2])[:60].strip() for f in feeds.values() if f[2]
    )
    articles = conn.execute("SELECT count(*) FROM article").fetchone()[0]
    entries = conn.execute("SELECT count(*) FROM entry").fetchone()[0]
    checked, non_text, kinds = text_problems(conn)

    # Charsets: the stored feed title must be what feedparser reads from the file itself.
    mismatch: list[str] = []
    mojibake: list[str] = []
    for name, path in names.items():
        title, _, error, _ = feeds[name]
        if error:
            continue
        raw = path.read_bytes()
        headers = {k.lower(): v for k, v in declared_headers(raw)}
        headers.setdefault("content-type", "application/xml")
        direct = plain_text(feedparser.parse(raw, response_headers=headers).feed.get("title"))
        if (title or "") != direct:
            mismatch.append(name)
        if title and MOJIBAKE.search(title) and not MOJIBAKE.search(direct):
            mojibake.append(name)

    # Ill-formed feeds: whatever feedparser recovered is stored, and the feed says so.
    bozo = [n for n, f in feeds.items() if f[1]]
    bozo_with_entries = [n for n in bozo if feeds[n][3]]
    illformed = [n for n in names if n.startswith("illformed/")]
    illformed_marked = [n for n in illformed if feeds[n][1] or feeds[n][2]]

    print(f"corpus: {len(files)} files from {corpus}")
    print(f"poll exit code: {code} (an exception would be 1); {took:.1f}s")
    print(f"feeds ok: {ok}, failing: {len(feeds) - ok}")
    for reason, n in errors.most_common():
        print(f"  {n:5d}  {reason}")
    print(f"entries stored: {entries}, articles stored: {articles}")
    print(f"stored values checked: {checked}, not text: {non_text}")
    for kind, n in kinds.most_common():
        print(f"  {n:5d}  {kind}")
    print(f"feed titles differing from feedparser's own reading of the file: {len(mismatch)}")
    for name in mismatch[:10]:
        print(f"    {name}")
    print(f"mojibake introduced by the ingest: {len(mojibake)}")
    print(
        f"feeds marked with a problem (ill-formed, recovered): {len(bozo)}, "
        f"of which with entries kept: {len(bozo_with_entries)}"
    )
    print(f"illformed/ files marked as problem or error: {len(illformed_marked)}/{len(illformed)}")
    failed = code != 0 or non_text or kinds or mojibake or mismatch
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1]) if len(sys.argv) > 1 else CORPUS))
