"""CPU per page of one extraction process, without the network or the database:
`ArticleWorker.prepare` (extract, fingerprints, tags) over the pages one of the two
processes of `python -m bench e2e` gets (every other page of the 88 real pages × 5
byte-distinct copies), in a process prepared as the fork server prepares its children
(the preloads, cold caches); then the same pages through a plain `trafilatura.extract`
loop, and the steps again with warm caches. The word tables are read from the cache
folder (`$MONITOR_CACHE_DIR`, else `~/.cache/monitor`) as in every run after a machine's
first (run it twice); the last lines time building each table the pages need against
mapping it (the first read of a settled file hashes it once; every later one, as in
every later process, compares a stat).

    PYTHONPATH=. python bench/extraction.py
    # another revision: git archive REV | tar -x -C /tmp/base, then
    PYTHONPATH=/tmp/base python bench/extraction.py
"""

from __future__ import annotations

import importlib
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime


def main() -> None:
    from monitor.config.dedup import DedupSettings
    from monitor.config.sections import ExtractSettings
    from monitor.run.process import PRELOAD, ArticleWorker, forkserver_preload

    dedup = DedupSettings()
    forkserver_preload(dedup)
    for module in PRELOAD:  # what the fork server imports (and preloads) for its children
        importlib.import_module(module)
    import trafilatura

    from bench.localsite import load_pages
    from bench.pipeline import distinct_copy
    from bench.scale import _tagger
    from monitor.dedup.features import extract_features
    from monitor.extract.page import extract_article
    from monitor.feeds.parse import FeedEntry

    tables = _time_word_tables()
    worker = ArticleWorker(ExtractSettings(), dedup, _tagger())
    pages = [distinct_copy(h, c) for c in range(5) for h in load_pages().values()][::2]
    when = datetime(2026, 11, 1, tzinfo=UTC)  # the feed dates its entries, as in the e2e
    start = time.process_time()
    for n, html in enumerate(pages):
        entry = FeedEntry(f"g{n}", None, f"feed {n % 22} item {n}", "", "", None, when)
        url = f"https://h{n}.example/a"
        worker.prepare(1, entry, url, url, html, None)
    prepare = (time.process_time() - start) / len(pages)
    start = time.process_time()
    for html in pages:
        trafilatura.extract(html)
    loop = (time.process_time() - start) / len(pages)
    print(f"prepare {1000 * prepare:.1f} ms a page (cold start, {len(pages)} pages)")
    print(
        f"  of which getting the word tables {1000 * sum(tables.values()):.0f} ms in all: "
        + ", ".join(f"{lang} {1000 * cpu:.1f}" for lang, cpu in tables.items())
    )
    print(f"trafilatura.extract loop {1000 * loop:.1f} ms a page; ratio {prepare / loop:.3f}")

    distinct = pages[:88]
    found = [extract_article(h, "https://x.example/a", "fast", want_date=False) for h in distinct]
    texts = [(e.title or "", e.text) for e in found if e is not None]

    def per_text(step: Callable[[str, str], object]) -> float:
        times = []
        for _ in range(3):
            start = time.process_time()
            for title, text in texts:
                step(title, text)
            times.append((time.process_time() - start) / len(texts))
        return 1000 * statistics.median(times)

    features = per_text(lambda title, text: extract_features(title, text, dedup, embed=False))
    tags = per_text(worker.tagger.tag)
    print(f"warm, per page: fingerprints {features:.2f} ms, tags {tags:.2f} ms")
    languages = {extract_features(t, x, dedup, embed=False).language for t, x in texts}
    word_tables({"en"} | {lang for lang in languages if lang})


def _time_word_tables() -> dict[str, float]:
    """CPU seconds of each language's first `rarity.word_frequencies` (filled as it runs)."""
    from monitor.dedup import rarity

    spent: dict[str, float] = {}
    inner = rarity.word_frequencies

    def timed(language: str) -> object:
        start = time.process_time()
        table = inner(language)
        spent.setdefault(language, time.process_time() - start)
        return table

    rarity.word_frequencies = timed  # type: ignore[assignment]
    return spent


def word_tables(languages: set[str]) -> None:
    """CPU of each word table the pages need: built from wordfreq's file (and written to
    an empty cache folder), then mapped from it, as every later process does."""
    try:
        from monitor.dedup.wordtable import WordFrequencies, word_lists
    except ImportError:  # a revision before the tables were cached
        return

    before = os.environ.get("MONITOR_CACHE_DIR")
    with tempfile.TemporaryDirectory() as folder:
        os.environ["MONITOR_CACHE_DIR"] = folder
        try:
            for language in sorted(languages & word_lists().keys() - {"zh", "ja", "ko"}):
                start = time.process_time()
                WordFrequencies(language)
                built = time.process_time() - start
                mapped = []
                for _ in range(2):
                    # The file settled (dedup.derived): the first read hashes it once and
                    # records its identity, every later one compares a stat.
                    time.sleep(1.1)
                    start = time.process_time()
                    WordFrequencies(language)
                    mapped.append(time.process_time() - start)
                print(
                    f"word table {language}: built {1000 * built:.0f} ms, mapped "
                    f"{1000 * mapped[0]:.1f} ms (checked whole), then {1000 * mapped[1]:.1f} ms"
                )
        finally:
            if before is None:
                os.environ.pop("MONITOR_CACHE_DIR")
            else:
                os.environ["MONITOR_CACHE_DIR"] = before


if __name__ == "__main__":
    main()
