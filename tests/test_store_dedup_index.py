"""`DedupIndex` on a real SQLite file and a real PostgreSQL database: retrieval through the tables, then scoring."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from dedup_samples import OTHER_EVENT, REWRITE, SPORT, STORY
from sqlalchemy import func, select
from sqlmodel import Session

from monitor.config.dedup import DedupSettings
from monitor.dedup import DocRef
from monitor.store.dedup_index import DedupIndex
from monitor.store.dedup_tables import DF_TABLE, DOC_TABLE, TERM_TABLE

WHEN = datetime(2025, 3, 17, 9, tzinfo=UTC)


pytestmark = pytest.mark.backends


@pytest.fixture()
def session(dedup_session: Session) -> Session:
    return dedup_session


def _df(session: Session, term: str) -> int | None:
    query = select(DF_TABLE.c.df).where(DF_TABLE.c.term == term)
    return session.execute(query).scalar_one_or_none()


def test_index_matches_each_layer(session: Session) -> None:
    index = DedupIndex(session, DedupSettings())
    index.add(DocRef("section", 7), "Baidu releases Ernie 4.5 and X1", STORY, None)
    index.add(DocRef("article", 1), "Penguins beat Senators", SPORT, WHEN)
    session.commit()

    exact = index.match("Other headline", STORY, WHEN)
    assert (exact.kind, exact.of) == ("exact", DocRef("section", 7))
    near = index.match("", STORY[: len(STORY) * 2 // 3], WHEN)
    assert (near.kind, near.of) == ("near", DocRef("section", 7))
    story = index.match("Baidu unveils free Ernie models", REWRITE, WHEN)
    assert (story.kind, story.of) == ("same-story", DocRef("section", 7))
    new = index.match("Baidu to release Ernie 5", OTHER_EVENT, WHEN)
    assert new.kind is None and new.of is None


def test_add_counts_terms_and_remove_uncounts_them(session: Session) -> None:
    index = DedupIndex(session, DedupSettings())
    index.add(DocRef("article", 1), "Baidu releases Ernie 4.5", STORY, WHEN)
    index.add(DocRef("article", 2), "Baidu unveils free Ernie models", REWRITE, WHEN)
    assert _df(session, "") == 2  # documents
    assert _df(session, "omdia") == 2
    assert _df(session, "jye") == 2
    index.remove(DocRef("article", 2))
    assert (_df(session, ""), _df(session, "omdia")) == (1, 1)
    index.remove(DocRef("article", 1))
    assert session.execute(select(func.count()).select_from(DF_TABLE)).scalar_one() == 0
    assert session.execute(select(func.count()).select_from(DOC_TABLE)).scalar_one() == 0


def test_match_then_add_computes_features_once(session: Session) -> None:
    index = DedupIndex(session, DedupSettings())
    index.match("t", STORY, WHEN)
    first = index.features("t", STORY, WHEN)
    index.add(DocRef("article", 1), "t", STORY, WHEN)
    assert index.features("t", STORY, WHEN) is first


def test_add_replaces_and_never_commits(session: Session) -> None:
    index = DedupIndex(session, DedupSettings())
    index.add(DocRef("article", 3), "t", STORY, WHEN)
    index.add(DocRef("article", 3), "t", SPORT, WHEN)
    assert index.match("", STORY, WHEN).kind is None
    assert index.match("", SPORT, WHEN).of == DocRef("article", 3)
    assert _df(session, "") == 1
    session.rollback()
    assert session.execute(select(func.count()).select_from(TERM_TABLE)).scalar_one() == 0


def test_old_candidates_are_outside_the_window(session: Session) -> None:
    index = DedupIndex(session, DedupSettings())
    index.add(
        DocRef("article", 1), "Baidu releases Ernie 4.5", STORY, datetime(2024, 1, 1, tzinfo=UTC)
    )
    assert index.match("Baidu unveils free Ernie models", REWRITE, WHEN).kind is None


def test_empty_index_says_new(session: Session) -> None:
    verdict = DedupIndex(session, DedupSettings()).match("t", STORY, None)
    assert verdict.kind is None and verdict.of is None
