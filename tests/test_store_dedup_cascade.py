"""The dedup cascade on a real SQLite file and a real PostgreSQL database: candidates are
compared by their terms first, and the embedder runs only for those left (the new document's
lead and the candidates' without a vector, in one batch), its vectors cached in the rows."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from dedup_samples import (
    OTHER_EVENT,
    OTHER_EVENT_NO_SPECIFICS,
    REWRITE,
    SPORT,
    STORY,
    STORY_ZH,
    ZHIPU_ZH,
)
from sqlalchemy import select
from sqlmodel import Session

import monitor.dedup.features as features_module
import monitor.store.dedup_index as index_module
from monitor.config.dedup import DedupSettings
from monitor.dedup import DocRef
from monitor.dedup.features import extract_features
from monitor.dedup.score import compare_features
from monitor.store.dedup_index import DedupIndex
from monitor.store.dedup_tables import DOC_TABLE

WHEN = datetime(2025, 3, 17, 9, tzinfo=UTC)
TITLE = "Baidu releases Ernie 4.5 and X1"
# One embedder for every pair; the English route has its own test below.
SETTINGS = DedupSettings(english_embedder="")

pytestmark = pytest.mark.backends


@pytest.fixture()
def session(dedup_session: Session) -> Session:
    return dedup_session


@pytest.fixture()
def batches(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The leads of each call the index makes to the embedder."""
    calls: list[list[str]] = []
    real = index_module.embed_leads

    def spy(leads: list[str], settings: DedupSettings, english: bool = False) -> list[bytes]:
        calls.append(list(leads))
        return real(leads, settings, english)

    monkeypatch.setattr(index_module, "embed_leads", spy)
    return calls


def _embedding(session: Session, ref: DocRef, column: str = "embedding") -> bytes:
    query = select(DOC_TABLE.c[column]).where(
        DOC_TABLE.c.ref_kind == ref.kind, DOC_TABLE.c.ref_id == ref.id
    )
    return bytes(session.execute(query).scalar_one() or b"")


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ((TITLE, STORY), ("Baidu unveils free Ernie models", REWRITE), "same-story"),
        ((TITLE, STORY), ("Baidu to release Ernie 5", OTHER_EVENT), None),
        ((TITLE, STORY), ("", STORY[: len(STORY) * 2 // 3]), "near"),
        ((TITLE, STORY), ("百度发布文心大模型4.5和X1", STORY_ZH), "same-story"),
        (("智谱启动上市辅导", ZHIPU_ZH), (TITLE, STORY), None),
        (("Baidu to release Ernie 5", OTHER_EVENT), ("", OTHER_EVENT_NO_SPECIFICS), "same-story"),
        ((TITLE, STORY), ("", OTHER_EVENT_NO_SPECIFICS), None),
        ((TITLE, STORY), ("Penguins beat Senators", SPORT), None),
    ],
)
def test_the_cascade_gives_the_full_models_verdicts(
    session: Session, first: tuple[str, str], second: tuple[str, str], expected: str | None
) -> None:
    index = DedupIndex(session, SETTINGS)
    index.add(DocRef("article", 1), *first, WHEN)
    verdict = index.match(*second, WHEN)
    full = compare_features(
        extract_features(*second, SETTINGS, WHEN),
        extract_features(*first, SETTINGS, WHEN),
        SETTINGS,
    )
    assert verdict.kind == full.kind == expected, (verdict.reasons, full.reasons)


def test_an_article_whose_candidates_are_ruled_out_is_stored_without_the_model(
    session: Session, monkeypatch: pytest.MonkeyPatch, batches: list[list[str]]
) -> None:
    loads: list[Any] = []
    real = features_module.load_embedder
    monkeypatch.setattr(features_module, "load_embedder", lambda *a: loads.append(a) or real(*a))
    index = DedupIndex(session, SETTINGS)
    index.add(DocRef("article", 1), TITLE, STORY, WHEN)
    # Same company and model, another version: a candidate, ruled out by the conflict.
    assert index.match("Baidu to release Ernie 5", OTHER_EVENT, WHEN).kind is None
    index.add(DocRef("article", 2), "Baidu to release Ernie 5", OTHER_EVENT, WHEN)
    assert index.match("Penguins beat Senators", SPORT, WHEN).kind is None
    index.add(DocRef("article", 3), "Penguins beat Senators", SPORT, WHEN)
    assert loads == [] and batches == []
    assert (index.embedded_new, index.embedded_stored) == (0, 0)
    for n in (1, 2, 3):
        assert _embedding(session, DocRef("article", n)) == b""


def test_a_candidates_vector_is_computed_once_and_cached(
    session: Session, batches: list[list[str]]
) -> None:
    index = DedupIndex(session, SETTINGS)
    index.add(DocRef("section", 7), TITLE, STORY, None)
    rewrite = index.features("Baidu unveils free Ernie models", REWRITE, WHEN)
    assert index.match_features(rewrite).kind == "same-story"
    # One batch: the new document's lead, then the candidate's, read from its payload.
    story_lead = extract_features(TITLE, STORY, SETTINGS, embed=False).lead
    assert batches == [[rewrite.lead, story_lead]]
    cached = _embedding(session, DocRef("section", 7))
    assert len(cached) == 2 * 512
    index.add_features(DocRef("article", 1), rewrite, duplicate=True)
    assert len(_embedding(session, DocRef("article", 1))) == 2 * 512  # stored with it
    assert (index.embedded_new, index.embedded_stored) == (1, 1)

    # Another write-up: the story's vector is read from its row, not computed again (the
    # rewrite, a duplicate, is ruled out: compared with its original only).
    other = index.features("Baidu's Ernie models are free", OTHER_EVENT_NO_SPECIFICS, WHEN)
    index.match_features(other)
    assert batches[1:] == [[other.lead]]
    assert _embedding(session, DocRef("section", 7)) == cached
    assert (index.embedded_new, index.embedded_stored) == (2, 1)


def test_documents_indexed_before_the_cascade_keep_their_vectors(
    session: Session, batches: list[list[str]]
) -> None:
    """A database of the full model: every document has its vector and no lead."""
    index = DedupIndex(session, SETTINGS)
    old = extract_features(TITLE, STORY, SETTINGS, WHEN)
    index.add_features(DocRef("article", 1), replace(old, lead=""))
    verdict = index.match("Baidu unveils free Ernie models", REWRITE, WHEN)
    assert (verdict.kind, verdict.of) == ("same-story", DocRef("article", 1))
    assert len(batches) == 1 and len(batches[0]) == 1  # only the new document's lead


def test_a_reader_leaves_the_rows_as_they_are(session: Session) -> None:
    DedupIndex(session, SETTINGS).add(DocRef("section", 7), TITLE, STORY, None)
    reader = DedupIndex(session, SETTINGS, cache=False)
    assert reader.match("Baidu unveils free Ernie models", REWRITE, WHEN).kind == "same-story"
    assert _embedding(session, DocRef("section", 7)) == b""


def test_english_pairs_are_read_by_the_english_model_and_others_by_muse(
    session: Session, batches: list[list[str]]
) -> None:
    """Default settings: two English write-ups sharing many names and numbers are judged by
    MiniLM (384-dim vectors in `embedding_en`); a Chinese write-up of the same launch is
    compared with the English story by muse (512-dim, `embedding`): both cached."""
    settings = DedupSettings()
    assert settings.routes_english
    index = DedupIndex(session, settings)
    index.add(DocRef("section", 7), TITLE, STORY, None)
    rewrite = index.features("Baidu unveils free Ernie models", REWRITE, WHEN)
    verdict = index.match_features(rewrite)
    assert verdict.kind == "same-story"
    assert any("read by the minilm model" in reason for reason in verdict.reasons)
    index.add_features(DocRef("article", 1), rewrite, duplicate=True)
    for ref in (DocRef("section", 7), DocRef("article", 1)):
        assert len(_embedding(session, ref, "embedding_en")) == 2 * 384
        assert _embedding(session, ref) == b""  # muse never ran

    chinese = index.features("百度发布文心大模型4.5和X1", STORY_ZH, WHEN)
    verdict = index.match_features(chinese)
    assert (verdict.kind, verdict.of) == ("same-story", DocRef("section", 7))
    assert not any("minilm" in reason for reason in verdict.reasons)
    assert batches[-1] == [chinese.lead, extract_features(TITLE, STORY, settings, embed=False).lead]
    assert len(_embedding(session, DocRef("section", 7))) == 2 * 512
    assert len(_embedding(session, DocRef("section", 7), "embedding_en")) == 2 * 384
    assert index.embedded_new == 2


def test_english_pairs_with_little_in_common_are_read_by_muse(session: Session) -> None:
    """Same company, another event, few names in common: MiniLM would call it the same
    story (it links same-topic news), so such pairs are left to muse."""
    index = DedupIndex(session, DedupSettings())
    index.add(DocRef("article", 1), TITLE, STORY, WHEN)
    verdict = index.match("Baidu upgrade", OTHER_EVENT_NO_SPECIFICS, WHEN)
    assert verdict.kind is None
    assert _embedding(session, DocRef("article", 1), "embedding_en") == b""


def test_exact_copies_are_one_candidate(session: Session, batches: list[list[str]]) -> None:
    """Every copy of a syndicated text is indexed; a later rewrite compares with (and
    embeds) the oldest of them only, and is linked to it."""
    index = DedupIndex(session, SETTINGS)
    for n in (1, 2, 3):
        index.add(DocRef("article", n), TITLE, STORY, WHEN)
    rewrite = index.features("Baidu unveils free Ernie models", REWRITE, WHEN)
    verdict = index.match_features(rewrite)
    assert (verdict.kind, verdict.of) == ("same-story", DocRef("article", 1))
    assert batches == [[rewrite.lead, extract_features(TITLE, STORY, SETTINGS, embed=False).lead]]
    assert _embedding(session, DocRef("article", 2)) == b""
