"""The CPU work of one article — extract, choose the text, dedup features, topics. Pure.

It runs inside the extraction processes, so that everything costly about an article uses
every core; the polling thread looks up candidates, scores them and writes, and embeds the
leads of the few articles whose verdict needs the model (`store.dedup_index`): the
extraction processes never load it.
"""

from __future__ import annotations

import copyreg
import os
import signal
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from monitor.config.dedup import DedupSettings
from monitor.config.sections import ExtractSettings
from monitor.dedup.features import Features, extract_features
from monitor.extract.articles import NewArticle
from monitor.extract.page import Extracted, extract_article
from monitor.feeds.parse import FeedEntry, plain_text
from monitor.run.orphans import die_with_parent
from monitor.topics.tagger import Tagger, Tagging


@dataclass(frozen=True)
class Prepared:
    """An article ready to be matched and stored."""

    article: NewArticle
    features: Features
    tagging: Tagging


def choose_text(
    extracted: Extracted | None, feed_text: str, minimum: int, error: str | None
) -> tuple[str, str, str, str | None]:
    """(text, extraction, status, error): the page's text unless it is missing or shorter
    than what the feed itself carries; then the feed's own content is kept."""
    if extracted is not None and len(extracted.text) >= min(minimum, len(feed_text) + 1):
        return extracted.text, "trafilatura", "ok", error
    if extracted is None and error:
        return feed_text, "feed", "fetch-failed", error
    if extracted is not None and not error:
        error = f"extracted text too short ({len(extracted.text)} chars)"
    return feed_text, "feed", "summary-only", error


class ArticleWorker:
    def __init__(self, extract: ExtractSettings, dedup: DedupSettings, tagger: Tagger) -> None:
        self.extract = extract
        self.dedup = dedup
        self.tagger = tagger

    def prepare(
        self,
        feed_id: int,
        entry: FeedEntry,
        url: str,
        canonical: str,
        html: bytes | None,
        error: str | None,
    ) -> Prepared:
        extracted = None
        if html is not None:
            try:
                extracted = extract_article(
                    html, url, self.extract.mode, want_date=entry.published is None
                )
            except Exception as exc:  # a page that crashes the extractor is skipped, not fatal
                error = f"extraction failed: {exc!r}"
            if extracted is None and error is None:
                error = "no article text found in the page"
        feed_text = plain_text(entry.content_html) or entry.summary
        text, method, status, error = choose_text(
            extracted, feed_text, self.extract.min_text_chars, error
        )
        title = entry.title or (extracted.title if extracted and extracted.title else "")
        published = entry.published or (extracted.published if extracted else None)
        article = NewArticle(
            feed_id=feed_id,
            guid=entry.guid,
            url=url,
            canonical_url=canonical,
            title=title,
            author=entry.author or (extracted.author if extracted else None),
            published=published,
            site_name=extracted.site_name if extracted else None,
            language=extracted.language if extracted else None,
            summary=entry.summary[:2000],
            text=text,
            extraction=method,
            status=status,
            error=error,
        )
        # No embedding here: the matcher embeds the lead if a candidate needs it.
        features = extract_features(title, text, self.dedup, published, embed=False)
        return Prepared(article, features, self.tagger.tag(title, text))


_WORKER: ArticleWorker | None = None
# English: jieba's Chinese dictionary waits for Chinese text (features._segment).
_WARM_ENTRY = FeedEntry("warm", None, "Warm-up", "Loads the models once.", "", None, None)


def _mappingproxy(data: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    return MappingProxyType(data)


def _pickle_mappingproxy(m: MappingProxyType[Any, Any]) -> tuple[Any, tuple[dict[Any, Any]]]:
    return _mappingproxy, (dict(m),)


# The topic schema is frozen with read-only mappings; the worker is sent once to each
# extraction process, so teach pickle to copy them.
copyreg.pickle(MappingProxyType, _pickle_mappingproxy)


# Imported once by the pool's fork server (started with the first process), so that every
# extraction process forked from it starts with them loaded.
PRELOAD = [
    "monitor.run.forkguard",  # first: the fork server dies with the run that started it
    "monitor.run.process",
    "feedparser",  # feeds are parsed here too (monitor.run.polljobs.fetch_feed)
    "trafilatura",
    "htmldate",
    "wordfreq",
    "py3langid",
    "jieba",
    "monitor.run.preload",
]
PRELOAD_ENV = "MONITOR_PRELOAD_EMBEDDER"


def forkserver_preload(dedup: DedupSettings) -> list[str]:
    """PRELOAD, with the embedder of `dedup` named for the fork server's `preload` module to
    load once for every process (the server inherits the environment when it starts)."""
    os.environ[PRELOAD_ENV] = f"{dedup.embedder}:{dedup.model_threads}:{dedup.model_dir}"
    return PRELOAD


def init_worker(worker: ArticleWorker) -> None:
    """Process-pool initializer: keep one worker per process (the tagger is built once).

    Ctrl-C (SIGINT to the whole process group) is left to the parent, which stops
    cleanly; SIGTERM stays fatal, the pool itself uses it to end its workers. SIGKILL
    comes when the fork server dies (monitor.run.orphans)."""
    global _WORKER
    die_with_parent()  # forked by the fork server's one thread: its death is ours
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER = worker


def warm_worker() -> None:
    """Load what the first article would otherwise wait for (the word frequencies, the
    Chinese dictionary): submitted once per process when the pool starts."""
    assert _WORKER is not None, "init_worker was not called in this process"
    _WORKER.prepare(0, _WARM_ENTRY, "https://example.com/", "https://example.com/", None, None)


def prepare_in_worker(
    feed_id: int, entry: FeedEntry, url: str, canonical: str, html: bytes | None
) -> Prepared:
    assert _WORKER is not None, "init_worker was not called in this process"
    return _WORKER.prepare(feed_id, entry, url, canonical, html, None)
