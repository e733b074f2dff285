"""`DedupIndex` on a real SQLite file and a real PostgreSQL database: retrieval through the tables, then scoring."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from dedup_samples import OTHER_EVENT, REWRITE, SPORT, STORY
from sqlalchemy import Integer, bindparam, func, literal, select, union_all
from sqlmodel import Session

from monitor.config.dedup import DedupSettings
from monitor.dedup import DocRef
from monitor.store import dedup_index
from monitor.store.dedup_index import DedupIndex
from monitor.store.dedup_tables import BAND_TABLE, DF_TABLE, DOC_TABLE, TERM_TABLE

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


def _composed_candidate_query(terms: int, bands: bool, limit: int, top: int) -> Any:
    """The candidate query as a composed `select`, as it was built before the `text()`
    statement: the reference the text must agree with."""
    lists: list[Any] = []
    if bands:
        hits = (
            select(BAND_TABLE.c.doc_id)
            .where(BAND_TABLE.c.band_key.in_(bindparam("keys", expanding=True)))
            .limit(limit)
            .subquery()
        )
        lists.append(select(hits.c.doc_id, literal(1000, Integer).label("votes")))
    for n in range(terms):
        postings = (
            select(TERM_TABLE.c.doc_id)
            .where(TERM_TABLE.c.term == bindparam(f"t{n}"))
            .order_by(TERM_TABLE.c.doc_id.desc())
            .limit(limit)
            .subquery()
        )
        lists.append(select(postings.c.doc_id, literal(1, Integer).label("votes")))
    every = (union_all(*lists) if len(lists) > 1 else lists[0]).subquery()
    total = func.sum(every.c.votes)
    best = (
        select(every.c.doc_id)
        .group_by(every.c.doc_id)
        .order_by(total.desc(), every.c.doc_id.desc())
        .limit(top)
    )
    return (
        select(DOC_TABLE).where(DOC_TABLE.c.id.in_(best.scalar_subquery())).order_by(DOC_TABLE.c.id)
    )


def test_the_candidate_statement_returns_what_the_composed_one_did(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Short posting lists and few candidates, so that the cuts and the ranking decide.
    settings = DedupSettings(max_postings=3, max_candidates=4)
    index = DedupIndex(session, settings)
    sentences = [s for text in (STORY, REWRITE, OTHER_EVENT, SPORT) for s in text.split(". ")]
    texts = [". ".join(sentences[i : i + 4]) for i in range(0, len(sentences), 2)]
    texts += [STORY, STORY[: len(STORY) * 2 // 3]]
    for n, text in enumerate(texts):
        index.add(DocRef("article", n + 1), f"headline {n}", text, WHEN)
    session.commit()
    queries = [*texts, REWRITE, OTHER_EVENT, SPORT + " " + REWRITE]
    statements = [dedup_index.candidate_query, _composed_candidate_query]
    found: list[list[list[Any]]] = []
    for statement in statements:
        monkeypatch.setattr(dedup_index, "candidate_query", statement)
        rows = []
        for text in queries:
            features = index.features("", text, WHEN)
            rows.append(
                [tuple(r) for r in index._candidates(features, index.corpus(features.event))]
            )
        found.append(rows)
    assert found[0] == found[1]
    assert sum(1 for rows in found[0] if len(rows) == settings.max_candidates) >= 3
    assert all(rows for rows in found[0])
    # Typed columns: the dates and bytes come back as they were stored.
    first = found[0][0][0]
    assert isinstance(first[3], datetime) and isinstance(first[6], bytes)


def test_counts_of_any_terms_are_read_and_written_as_bound(session: Session) -> None:
    # The terms travel as one bound list (JSON on SQLite, an array on PostgreSQL): quotes,
    # backslashes, brackets, non-Latin scripts and a term listed twice all arrive as given.
    index = DedupIndex(session, DedupSettings())
    odd = ["o'neil", 'say "hi"', "back\\slash", "[1,2]", "百度", "ernie 4.5", "%s", ":terms"]
    index._count([*odd, "twice", "twice"], +1)
    index._count(["ernie 4.5"], +1)
    corpus = index.corpus([*odd, "twice", "absent"])
    assert corpus.df == {**{t: 1 for t in odd}, "ernie 4.5": 2, "twice": 2}
    assert "absent" not in corpus.df
    index._count(["twice", "twice", "百度"], -1)  # counted down once each; at 0 a row goes
    assert _df(session, "twice") == 1 and _df(session, "百度") is None
    assert _df(session, "ernie 4.5") == 2
    many = [f"term {n}" for n in range(1500)]  # more than one statement's placeholders
    index._count(many, +1)
    assert len(index.corpus(many).df) == 1500
