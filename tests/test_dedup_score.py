"""The pure layers of the dedup matcher: exact, near copy, same story, not a duplicate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dedup_samples import OTHER_EVENT, REWRITE, SPORT, STORY

from monitor.dedup import DedupSettings, compare_texts
from monitor.dedup.features import extract_features, normalise, tokenize

SETTINGS = DedupSettings()


def test_normalise_folds_case_quotes_and_spacing() -> None:
    assert normalise("Baidu’s  NEW\nModel") == "baidu's new model"
    assert tokenize("Baidu’s Ernie 4.5 and X1.") == ["baidu", "ernie", "4.5", "and", "x1"]


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
    verdict = compare_texts(
        "Baidu releases Ernie 4.5 and X1",
        STORY,
        "Baidu unveils free Ernie models",
        REWRITE,
        SETTINGS,
    )
    assert verdict.kind == "same-story"
    assert any("ernie 4.5" in reason for reason in verdict.reasons)


def test_same_topic_other_event_is_new() -> None:
    verdict = compare_texts(
        "Baidu releases Ernie 4.5 and X1",
        STORY,
        "Baidu to release new model",
        OTHER_EVENT,
        SETTINGS,
    )
    assert verdict.kind is None


def test_unrelated_story_is_new() -> None:
    verdict = compare_texts(
        "Baidu releases Ernie", STORY, "Penguins beat Senators", SPORT, SETTINGS
    )
    assert verdict.kind is None
    assert verdict.score < 0.1


def test_time_window_separates_old_coverage() -> None:
    now = datetime(2025, 3, 17, tzinfo=UTC)
    old = now - timedelta(days=SETTINGS.window_days + 1)
    verdict = compare_texts("t", STORY, "u", REWRITE, SETTINGS, now, old)
    assert verdict.kind is None
    assert any("days apart" in reason for reason in verdict.reasons)


def test_features_are_deterministic() -> None:
    a = extract_features("t", STORY, SETTINGS)
    b = extract_features("t", STORY, SETTINGS)
    assert a == b
    assert len(a.signature) == SETTINGS.num_perm
