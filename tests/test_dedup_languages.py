"""Same story across languages and times: Chinese words, names and numbers, character
shingles, the language rule, the years a text is about, quarters, and comparing with a
story's original only."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime

from dedup_samples import EXPORT_ZH, REWRITE, STORY, STORY_ZH, ZHIPU_ZH

from monitor.config.dedup import DedupSettings
from monitor.dedup import compare_texts
from monitor.dedup.features import extract_features, tokenize
from monitor.dedup.score import compare_features
from monitor.dedup.terms import amount, quarters

SETTINGS = DedupSettings()
TITLE = "Baidu releases Ernie 4.5 and X1"
TITLE_ZH = "百度发布文心大模型4.5和X1"


def test_chinese_text_yields_words_names_and_numbers() -> None:
    words = tokenize("腾讯2025年第二季度营收增长15%，DeepSeek发布R1模型")
    assert {"腾讯", "2025", "营收", "15", "deepseek", "r1", "模型"} <= set(words)
    # Thousands separators go: "4,000 chargers" and "4000座" share the number.
    assert tokenize("4,000 chargers, 336,681 cars, 1,2,3") == [
        "4000",
        "chargers",
        "336681",
        "cars",
        "1",
        "2",
        "3",
    ]
    features = extract_features(TITLE_ZH, STORY_ZH, SETTINGS)
    assert features.language == "zh"
    assert {"x1", "4.5", "deepseek", "r1"} <= set(features.event)
    assert features.years == ()  # "3月16日": a date without a year


def test_chinese_near_copy_is_found_on_characters() -> None:
    # The same article with its last sentence cut and another headline: no spaces to
    # split words on, so the shingles are on characters.
    verdict = compare_texts(TITLE_ZH, STORY_ZH, "文心4.5发布", STORY_ZH[:-16], SETTINGS)
    assert verdict.kind == "near"


def test_chinese_article_and_english_write_up_are_one_story() -> None:
    verdict = compare_texts(TITLE_ZH, STORY_ZH, TITLE, STORY, SETTINGS)
    assert verdict.kind == "same-story", verdict.reasons
    assert any("languages zh/en" in reason for reason in verdict.reasons)


def test_unrelated_chinese_stories_are_two_stories() -> None:
    verdict = compare_texts("智谱启动上市辅导", ZHIPU_ZH, "美国出口管制", EXPORT_ZH, SETTINGS)
    assert verdict.kind is None
    for text in (ZHIPU_ZH, EXPORT_ZH):
        assert compare_texts(TITLE_ZH, STORY_ZH, "t", text, SETTINGS).kind is None


def test_a_language_the_model_cannot_read_gets_exact_and_near_only() -> None:
    english_only = DedupSettings(embedder="static")
    verdict = compare_texts(TITLE_ZH, STORY_ZH, TITLE, STORY, english_only)
    assert verdict.kind is None
    assert any("does not read zh" in reason for reason in verdict.reasons)
    # A copy is still a copy, whatever the language.
    assert compare_texts(TITLE_ZH, STORY_ZH, "t", STORY_ZH, english_only).kind == "exact"


def test_texts_about_different_years_are_different_stories() -> None:
    old = STORY.replace("on Sunday", "on Sunday, March 16, 2025,")
    new = REWRITE.replace("has launched", "launched in March 2027")
    verdict = compare_texts(TITLE, old, "Baidu unveils free Ernie models", new, SETTINGS)
    assert verdict.kind is None
    assert any("about 2025 and 2027" in reason for reason in verdict.reasons)
    # Adjacent years are no such evidence (a December report on next year's plan).
    next_year = REWRITE.replace("has launched", "will launch in 2026")
    verdict = compare_texts(TITLE, old, "Baidu unveils free Ernie models", next_year, SETTINGS)
    assert not any("about 2025 and 2026" in reason for reason in verdict.reasons)
    # A dated article is not the story of an undated text (a seed) about an earlier year.
    published = datetime(2026, 3, 17, tzinfo=UTC)
    verdict = compare_texts(TITLE, REWRITE, "seed", old, SETTINGS, published, None)
    assert verdict.kind is None
    assert any("published in 2026" in reason for reason in verdict.reasons)
    # The same year on both sides is no obstacle.
    same_year = REWRITE.replace("has launched", "launched in March 2025")
    assert compare_texts(TITLE, old, "u", same_year, SETTINGS).kind == "same-story"


def test_quarters_are_read_in_english_and_chinese() -> None:
    assert quarters("Tencent's second-quarter revenue; Q3 guidance") == ("2", "3")
    assert quarters("腾讯第二季度营收；三季度展望") == ("2", "3")


def test_amounts_are_one_term_in_chinese_and_english() -> None:
    """Chinese counts in 万 and 亿 (1e4, 1e8), English in millions and billions: "1845亿元"
    and "184.5 billion yuan" are one amount, which the two write-ups share."""
    zh = ("腾讯第二季度营收1845亿元", "腾讯控股公布第二季度业绩，营收1845亿元，同比增长15%。")
    en = (
        "Tencent revenue rises 15%",
        "Tencent said second-quarter revenue grew 15% to 184.5 billion yuan and that it "
        "spent $5.5bn on servers.",
    )
    assert "184.5 billion" in extract_features(*zh, SETTINGS).event
    assert {"184.5 billion", "5.5 billion"} <= extract_features(*en, SETTINGS).event.keys()
    verdict = compare_texts(*zh, *en, SETTINGS)
    assert any(r.startswith("shared:") and "184.5 billion" in r for r in verdict.reasons)
    words = tokenize("销量220万辆，市值1.2万亿元, 3 million, 12 apples, 20 billion, 1.2.3 billion")
    found = [amount(words, at) for at in range(len(words))]
    assert [a for a in found if a] == ["2.2 million", "1.2 trillion", "3 million", "20 billion"]


def test_numbers_of_decimal_comma_languages_read_as_english_writes_them() -> None:
    """German writes 5.5 as "5,5" and 184,500 as "184.500": the terms are those of an English
    report of the same figures. An English text keeps its commas as separators."""
    german = extract_features(
        "Nvidia erwartet Belastung von 5,5 Milliarden Dollar",
        "Nvidia rechnet mit einer Belastung von 5,5 Milliarden Dollar. Die Aktie fiel um "
        "6,2 Prozent, der Umsatz lag bei 184.500 Millionen Dollar.",
        SETTINGS,
        language="de",
    )
    english = extract_features(
        "Nvidia takes $5.5 billion charge",
        "Nvidia expects a $5.5 billion charge; its shares fell 6.2% on revenue of 184.5 billion.",
        SETTINGS,
        language="en",
    )
    shared = german.event.keys() & english.event.keys()
    assert {"5.5", "5.5 billion", "6.2", "184.5 billion"} <= shared
    assert "5" not in german.event  # not "5" and "5" read apart
    assert tokenize("1,2,3 and 4,000") == ["1", "2", "3", "and", "4000"]


def test_a_duplicate_is_not_an_original_to_link_to() -> None:
    a = extract_features(TITLE, STORY, SETTINGS)
    b = extract_features("Baidu unveils free Ernie models", REWRITE, SETTINGS)
    assert compare_features(a, b, SETTINGS).kind == "same-story"
    verdict = compare_features(a, replace(b, duplicate=True), SETTINGS)
    assert verdict.kind is None
    assert any("compared with its original" in reason for reason in verdict.reasons)
    # ... but a copy of it is still a copy.
    assert compare_features(b, replace(b, duplicate=True), SETTINGS).kind == "exact"


def test_runs_without_common_han_are_cut_as_jieba_cuts_them_without_its_dictionary() -> None:
    import jieba as module  # type: ignore[import-untyped]

    from monitor.dedup.features import _segment

    for run in ["대한민국", "ひらがなカタカナ", "㐀㐁", "豈更", "한국어テスト"]:
        assert _segment(run) == [w for w in module.lcut(run) if w.strip()], run
    assert _segment("深度求索发布") == [w for w in module.lcut("深度求索发布") if w.strip()]


def test_korean_and_japanese_kana_leave_jieba_unloaded() -> None:
    # A fresh process: the tests above may have loaded the dictionary in this one.
    code = (
        "from monitor.dedup.features import tokenize, _tokens;"
        "from monitor.dedup.terms import event_terms;"
        "from monitor.config.dedup import DedupSettings;"
        "from monitor.dedup import rarity;"
        "t = _tokens('서울에서 Samsung 발표 2025. ひらがなのテスト GPU 4.5');"
        "event_terms(t, DedupSettings(), 'ko');"
        "assert rarity.jieba.cache_info().currsize == 0;"
        "_tokens('深度求索发布');"
        "assert rarity.jieba.cache_info().currsize == 1"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
