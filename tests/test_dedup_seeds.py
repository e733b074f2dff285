"""The seed checks of issue 3 on the project's own seeds/ (part of the repository)."""

from __future__ import annotations

from pathlib import Path

import pytest
from dedup_samples import HEALTH, POLITICS, SPORT

from monitor.config.dedup import DedupSettings
from monitor.dedup import compare_texts
from monitor.extract.seeds import Section, split_sections

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


@pytest.fixture(scope="module")
def docs() -> dict[str, Section]:
    found = {p.name[:3]: Section("", p.read_text(encoding="utf-8")) for p in SEEDS.glob("00*.txt")}
    compilation = found.pop("002")
    for n, section in enumerate(split_sections(compilation.text), 1):
        found[f"002.{n}"] = section
    return found


def test_compilation_splits_into_nine_articles(docs: dict[str, Section]) -> None:
    titles = [docs[f"002.{n}"].title for n in range(1, 10)]
    assert titles[1].startswith("Baidu, once China")
    assert titles[3].startswith("Chinese tech giant Baidu to release")
    assert titles[4] == "Musk is everywhere!"
    assert "002.10" not in docs


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        pytest.param("000", "001", True, id="000-001"),
        pytest.param("000", "002.1", True, id="000-002s1"),
        pytest.param("001", "002.1", True, id="001-002s1"),
        pytest.param("002.2", "002.4", False, id="baidu-launch-vs-plan"),
        pytest.param("000", "002.5", False, id="000-musk"),
        pytest.param("000", "002.7", False, id="000-nvidia"),
    ],
)
def test_seed_checks(docs: dict[str, Section], a: str, b: str, same: bool) -> None:
    da, db = docs[a], docs[b]
    verdict = compare_texts(da.title, da.text, db.title, db.text, DedupSettings())
    assert verdict.same_story == same


@pytest.mark.parametrize(
    ("title", "text"),
    [("Penguins beat Senators", SPORT), ("Senate confirms", POLITICS), ("Weekly jab", HEALTH)],
)
def test_unrelated_article_is_never_a_seed_duplicate(
    docs: dict[str, Section], title: str, text: str
) -> None:
    settings = DedupSettings()
    for doc in docs.values():
        verdict = compare_texts(title, text, doc.title, doc.text, settings)
        assert verdict.kind is None
        assert verdict.score < settings.same_story_threshold - 0.2
