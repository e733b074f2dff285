"""The pure layers of the dedup matcher: exact, near copy, same story, not a duplicate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from dedup_samples import (
    HEALTH,
    OTHER_EVENT,
    OTHER_EVENT_NO_SPECIFICS,
    POLITICS,
    REWRITE,
    SPORT,
    STORY,
)

from monitor.config.dedup import DedupSettings
from monitor.dedup import compare_texts
from monitor.dedup.features import extract_features, normalise, tokenize
from monitor.dedup.rarity import Corpus
from monitor.dedup.score import compare_features, story_parts
from monitor.dedup.terms import event_terms, head_versions

SETTINGS = DedupSettings()
TITLE = "Baidu releases Ernie 4.5 and X1"


def test_normalise_folds_case_quotes_and_spacing() -> None:
    assert normalise("Baidu’s  NEW\nModel") == "baidu's new model"
    assert tokenize("Baidu’s Ernie 4.5 and X1.") == ["baidu", "ernie", "4.5", "and", "x1"]


def test_event_terms_pair_names_with_numbers() -> None:
    from monitor.dedup.features import _tokens

    text = "It launched on Sunday 16th March 2025 with Ernie 4.5 and Ernie X1 on Jan 01."
    terms, specifics = event_terms(_tokens(text), SETTINGS)
    assert {"ernie 4.5", "ernie x1", "march 2025", "january 1"} <= terms.keys()
    assert specifics["ernie"] == ("4.5", "x1")
    assert specifics["january"] == ("1",)
    assert "with" not in terms and "the" not in terms


def test_exact_copy_with_other_spacing_and_case() -> None:
    verdict = compare_texts("A", STORY, "B", "  " + STORY.upper().replace(" ", "\n "), SETTINGS)
    assert verdict.kind == "exact"


def test_syndicated_copy_with_other_headline_and_boilerplate() -> None:
    copy = "Subscribe to our newsletter for daily updates.\n" + STORY + "\nRead more: tech news."
    verdict = compare_texts("Baidu launches Ernie X1", STORY, "Ernie 4.5 is out", copy, SETTINGS)
    assert verdict.kind == "near"


def test_truncated_copy_is_contained() -> None:
    verdict = compare_texts("", STORY, "", STORY[: len(STORY) // 2], SETTINGS)
    assert verdict.kind == "near"


def test_rewrite_with_the_same_facts_is_the_same_story() -> None:
    verdict = compare_texts(TITLE, STORY, "Baidu unveils free Ernie models", REWRITE, SETTINGS)
    assert verdict.kind == "same-story"
    assert any("ernie 4.5" in reason for reason in verdict.reasons)


def test_same_topic_other_version_is_new() -> None:
    verdict = compare_texts(TITLE, STORY, "Baidu to release Ernie 5", OTHER_EVENT, SETTINGS)
    assert verdict.kind is None
    assert any("ernie 4.5/x1 vs 5" in reason for reason in verdict.reasons)


GPT_45 = (
    "OpenAI releases GPT-4.5, its largest model yet",
    "OpenAI released GPT-4.5 as a research preview on Thursday, first to ChatGPT Pro "
    "subscribers paying $200 a month. The company called it its largest and best model for "
    "chat, with fewer hallucinations, but said it is not a frontier reasoning model. API "
    "access costs $75 per million input tokens, 30 times GPT-4o.",
)
GPT_5 = (
    "OpenAI launches GPT-5 for all ChatGPT users",
    "OpenAI released GPT-5 on Thursday, making it the default model for all 700 million "
    "weekly ChatGPT users, including those on the free tier. Sam Altman called it a "
    "significant step towards AGI and said it was like talking to a PhD-level expert. GPT-5 "
    "routes each request between a fast model and a deeper reasoning model.",
)


def test_head_versions_read_product_and_version_words_of_the_headline_only() -> None:
    words = tokenize(
        "Hands on with GPT-4.5 and Qwen3, not DeepSeek-V3. " + "filler " * 20 + "GPT-5"
    )
    assert head_versions(words, 16) == {"gpt": ("4.5",), "qwen": ("3",), "deepseek": ("v3",)}
    # The body's "built on DeepSeek-V3" is no version of the headline's product.
    assert head_versions(tokenize("covid-19 cases rise; an mp3 and an f-35"), 16) == {
        "covid": ("19",)
    }


def test_headlines_on_two_versions_of_one_product_are_two_stories() -> None:
    """Undated write-ups of the GPT-4.5 and GPT-5 launches read alike (same company, same
    kind of news); the versions their headlines give differ."""
    verdict = compare_texts(*GPT_5, *GPT_45, SETTINGS)
    assert verdict.kind is None
    assert any("gpt 5 vs 4.5" in reason for reason in verdict.reasons)
    # The same launch under another headline is still the same story.
    rewrite = (
        "All 700 million weekly users of ChatGPT now get GPT-5 as their default model, free "
        "tier included, OpenAI said on Thursday. Chief executive Sam Altman described the "
        "model as a significant step towards AGI, like talking to a PhD-level expert."
    )
    again = compare_texts(*GPT_5, "GPT-5 arrives for every ChatGPT user", rewrite, SETTINGS)
    assert again.kind == "same-story"


def test_same_topic_other_event_without_specifics_is_new() -> None:
    verdict = compare_texts(TITLE, STORY, "Baidu upgrade", OTHER_EVENT_NO_SPECIFICS, SETTINGS)
    assert verdict.kind is None


@pytest.mark.parametrize(
    ("title", "text"),
    [("Penguins win", SPORT), ("Senate vote", POLITICS), ("Blood pressure jab", HEALTH)],
)
def test_unrelated_story_is_new(title: str, text: str) -> None:
    verdict = compare_texts(TITLE, STORY, title, text, SETTINGS)
    assert verdict.kind is None
    assert verdict.score < 0.3


def test_common_terms_in_the_corpus_weigh_less() -> None:
    a = extract_features(TITLE, STORY, SETTINGS)
    b = extract_features("Baidu upgrade", OTHER_EVENT_NO_SPECIFICS, SETTINGS)
    # A corpus in which most documents name Baidu and Ernie: sharing them says little.
    crowded = Corpus(1000, {"baidu": 600, "ernie": 400}, SETTINGS.corpus_prior_docs)
    assert story_parts(a, b, crowded).event < 0.75 * story_parts(a, b).event
    assert crowded.rarity("baidu", 4.4) < 1.5
    assert crowded.rarity("omdia", 6.0) == 6.0  # not in the corpus: rare as in English


def test_time_window_separates_old_coverage() -> None:
    now = datetime(2025, 3, 17, tzinfo=UTC)
    old = now - timedelta(days=SETTINGS.window_days + 1)
    verdict = compare_texts("t", STORY, "u", REWRITE, SETTINGS, now, old)
    assert verdict.kind is None
    assert any("days apart" in reason for reason in verdict.reasons)


def test_features_are_deterministic_and_compact() -> None:
    a = extract_features("t", STORY, SETTINGS)
    b = extract_features("t", STORY, SETTINGS)
    assert a == b
    assert len(a.signature) == SETTINGS.num_perm
    assert len(a.embedding) == 2 * 512  # two int8 vectors of the multilingual model
    assert compare_features(a, b, SETTINGS).kind == "exact"
