"""The polling thread's work per article, alone: match, store, index, commit.

Usage: python -m bench.storepath [--runs N] [--against DIR] [--static]

The real pages of ../shared/realworld (× 3 byte-distinct copies, 264 articles, shuffled
once with a fixed seed) are extracted once in this process (the extraction processes'
work, not timed); then each run stores all of them into a fresh copy of an initialised
database the way `monitor poll` does (`article_by_url`, `save_article`, a commit per
article), in a child process, and reports the CPU seconds of that loop (the model loaded
before it starts), the SQL statements per article and a digest of every row written. With
`--against DIR` (another checkout), runs alternate between DIR's `monitor` and this one's on
the same prepared articles, and the digests must agree: the same verdicts, rows and counts.
`--static` uses `dedup.embedder = "static"` (less embedding noise in the figure).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pickle
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
COPIES = 3
TABLES = {
    "article": "SELECT id, canonical_url, duplicate_kind, duplicate_score, duplicate_of_id,"
    " duplicate_of_section_id, story_id, text_hash FROM article ORDER BY id",
    "dedup_doc": "SELECT id, ref_kind, ref_id, text_hash, signature, embedding, features"
    " FROM dedup_doc ORDER BY id",
    "dedup_term": "SELECT id, term, doc_id FROM dedup_term ORDER BY id",
    "dedup_band": "SELECT id, band_key, doc_id FROM dedup_band ORDER BY id",
    "dedup_df": "SELECT term, df FROM dedup_df ORDER BY term",
    "entry": "SELECT feed_id, guid, link, article_id FROM entry ORDER BY id",
    "article_topic": "SELECT article_id, topic, score FROM article_topic ORDER BY 1, 2",
}


def prepare(work: Path, static: bool) -> None:
    """Extract the pages once; leave the articles, an initialised database and its config."""
    from sqlmodel import Session

    from bench.localsite import load_pages
    from bench.pipeline import distinct_copy, workdir
    from monitor.feeds.parse import FeedEntry
    from monitor.net.urls import canonical_url
    from monitor.run.context import AppContext
    from monitor.run.process import ArticleWorker

    pages = load_pages()
    items = []
    for c in range(COPIES):
        for key, html in pages.items():
            n = len(items)
            url = f"http://127.0.{1 + n // 250}.{2 + n % 250}:8000/p/{c}/{key}"
            items.append((n // 20, n % 20, url, distinct_copy(html, c)))
    feeds = [
        (f"feed-{n}", f"http://127.0.9.{2 + i}:8000/feed/{n}.xml")
        for i, n in enumerate(range(0, len(items), 20))
    ]
    extra = '[dedup]\nembedder = "static"\n' if static else ""
    tmp = workdir(feeds, extra)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    init = [sys.executable, "-m", "monitor", "--config", str(tmp / "config.toml"), "init"]
    subprocess.run(init, env=env, check=True, capture_output=True)
    ctx = AppContext(tmp / "config.toml")
    settings = ctx.settings
    with Session(ctx.engine()) as session:
        tagger = ctx.tagger(session)
    worker = ArticleWorker(settings.extract, settings.dedup, tagger)
    prepared = []
    for feed, i, url, html in items:
        when = datetime(2025, 3, 4, i % 24, tzinfo=UTC)
        entry = FeedEntry(url, url, f"feed {feed * 20} item {i}", "", "", None, when)
        canonical = canonical_url(url)
        prepared.append(worker.prepare(feed + 1, entry, url, canonical, html, None))
    random.Random(1).shuffle(prepared)
    ctx.close()
    (work / "articles.pickle").write_bytes(pickle.dumps(prepared))
    shutil.copy(tmp / "data" / "monitor.db", work / "template.db")
    shutil.copy(tmp / "config.toml", work / "config.toml")
    shutil.rmtree(tmp)


def child(work: Path) -> None:
    """One run (in a process of its own, with whichever `monitor` is first on the path)."""
    from sqlalchemy import event, text
    from sqlmodel import Session

    from monitor.dedup.features import embed_leads
    from monitor.run.context import AppContext
    from monitor.store.dedup_index import DedupIndex
    from monitor.store.write import article_by_url, save_article, sync_feeds

    prepared = pickle.loads((work / "articles.pickle").read_bytes())
    run = Path(tempfile.mkdtemp(prefix="storepath-"))
    (run / "data").mkdir()
    shutil.copy(work / "template.db", run / "data" / "monitor.db")
    shutil.copy(work / "config.toml", run / "config.toml")
    os.chdir(run)
    ctx = AppContext(run / "config.toml")
    engine = ctx.engine()
    statements = [0]

    def count(*_: Any) -> None:
        statements[0] += 1

    event.listen(engine, "before_cursor_execute", count)
    embed_leads(["the model is loaded before the clock starts"], ctx.settings.dedup)
    with Session(engine, expire_on_commit=False) as session:
        sync_feeds(session, ctx.settings.feeds)
        session.commit()
        index = DedupIndex(session, ctx.settings.dedup)
        before, start = statements[0], time.process_time()
        for item in prepared:
            if article_by_url(session, item.article.canonical_url) is None:
                save_article(session, item.article, index, item.features, item.tagging, None)
            session.commit()
        cpu, used = time.process_time() - start, statements[0] - before
    digest = hashlib.sha256()
    with engine.connect() as connection:
        for query in TABLES.values():
            digest.update(repr(connection.execute(text(query)).all()).encode())
    ctx.close()
    shutil.rmtree(run)
    print(f"{cpu:.4f} {used} {digest.hexdigest()[:16]}")


def _run(work: Path, code: Path) -> tuple[float, int, str]:
    env = {**os.environ, "PYTHONPATH": str(code)}
    script = [sys.executable, str(Path(__file__).resolve()), "--child", str(work)]
    out = subprocess.run(script, env=env, check=True, capture_output=True, text=True).stdout
    cpu, used, digest = out.split()[-3:]
    return float(cpu), int(used), digest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--against", type=Path, help="another checkout to compare with")
    parser.add_argument("--static", action="store_true")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    work = Path(tempfile.mkdtemp(prefix="storepath-"))
    try:
        prepare(work, args.static)
        codes = {"this": ROOT}
        if args.against:
            codes = {"against": args.against.resolve(), "this": ROOT}
        runs: dict[str, list[tuple[float, int, str]]] = {name: [] for name in codes}
        for _ in range(args.runs):
            for name, code in codes.items():  # alternating, so that load hits both alike
                runs[name].append(_run(work, code))
        n = len(pickle.loads((work / "articles.pickle").read_bytes()))
        for name, results in runs.items():
            cpu = statistics.median(r[0] for r in results)
            print(
                f"{name} ({codes[name]}): {cpu:.2f} s CPU for {n} articles, "
                f"{1000 * cpu / n:.2f} ms an article (median of {len(results)}: "
                f"{', '.join(f'{r[0]:.2f}' for r in results)}); "
                f"{results[0][1] / n:.1f} statements an article; rows {results[0][2]}"
            )
        digests = {r[2] for results in runs.values() for r in results}
        print("same rows in every run" if len(digests) == 1 else f"ROWS DIFFER: {digests}")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    if "--child" not in sys.argv:
        sys.path.insert(0, str(ROOT))
    main()
