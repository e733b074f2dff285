"""`complete_article`: an article whose page arrived on a retry is stored as if the page had
arrived the first time — also in the dedup index, where a same-story duplicate is never an
original for later articles (no chains)."""

from __future__ import annotations

import json
from pathlib import Path

from dedup_samples import REWRITE, STORY
from sqlalchemy import select
from sqlmodel import Session

from monitor.config.dedup import DedupSettings
from monitor.dedup.features import extract_features
from monitor.extract.articles import NewArticle
from monitor.store.db import make_engine, migrate
from monitor.store.dedup_index import DedupIndex
from monitor.store.dedup_tables import DOC_TABLE
from monitor.store.models import Feed
from monitor.store.write import PageFetch, complete_article, save_article
from monitor.topics.tagger import Tagging

NO_TAGS = Tagging(topics=[], scores={}, reasons={})


def article(feed_id: int, n: int, title: str, text: str, status: str = "ok") -> NewArticle:
    url = f"https://news.example/{n}"
    return NewArticle(
        feed_id=feed_id, guid=url, url=url, canonical_url=url, title=title, author=None,
        published=None, site_name=None, language="en", summary=title, text=text,
        extraction="trafilatura" if status == "ok" else "feed", status=status,
    )  # fmt: skip


def test_a_completed_same_story_article_is_no_original(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate(engine)
    settings = DedupSettings()
    with Session(engine) as session:
        feed = Feed(name="news", url="https://news.example/feed")
        session.add(feed)
        session.flush()
        assert feed.id is not None
        index = DedupIndex(session, settings)
        title = "Baidu releases Ernie 4.5 and Ernie X1"
        first = article(feed.id, 1, title, STORY)
        original, _ = save_article(
            session, first, index, extract_features(title, STORY, settings), NO_TAGS
        )
        # The rewrite's page failed: stored with the feed's one-line summary.
        late = article(feed.id, 2, "Baidu launches two AI models", "", status="fetch-failed")
        summary = extract_features(late.title, late.summary, settings)
        late_id, _ = save_article(session, late, index, summary, NO_TAGS, PageFetch(attempts=1))

        done = article(feed.id, 2, "Baidu launches two AI models", REWRITE)
        verdict = complete_article(
            session, late_id, done, index,
            extract_features(done.title, REWRITE, settings), NO_TAGS, PageFetch(attempts=2),
        )  # fmt: skip
        assert verdict.kind == "same-story" and verdict.of is not None
        assert verdict.of.id == original
        (payload,) = session.execute(
            select(DOC_TABLE.c.features).where(
                DOC_TABLE.c.ref_kind == "article", DOC_TABLE.c.ref_id == late_id
            )
        ).one()
        assert json.loads(payload).get("duplicate") is True  # later stories link to `original`
    engine.dispose()
