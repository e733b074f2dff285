"""The tagger: every topic has positives and negatives, seed sections get a reader's tags."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from monitor.config.sections import TaggingSettings
from monitor.topics.schema import load_topics
from monitor.topics.tagger import Tagger

ROOT = Path(__file__).resolve().parent.parent
DEV = [json.loads(line) for line in (ROOT / "tests/data/topics_dev.jsonl").open(encoding="utf-8")]


def seed_002_section(start: str, end: str) -> tuple[str, str]:
    """One section of the compilation seed: its headline, then (after the caption) its body."""
    text = next((ROOT / "seeds").glob("002_*.txt")).read_text(encoding="utf-8")
    chunk = text[text.index(start) : text.index(end)]
    lines = [line for line in chunk.splitlines() if line.strip()]
    return lines[0], "\n".join(lines[2:])


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    schema = load_topics(ROOT / "seeds/topics.toml")
    seeds = [
        seed_002_section("BYD shares hit record", "Is Nvidia share price"),
        seed_002_section("Is Nvidia share price", "The aftermath from"),
    ]
    return Tagger(schema, TaggingSettings(), seeds)


@pytest.mark.parametrize("topic", sorted({t for row in DEV for t in row["topics"]}))
def test_each_topic_has_positives_and_negatives(tagger: Tagger, topic: str) -> None:
    positives = [r for r in DEV if topic in r["topics"]]
    negatives = [r for r in DEV if topic not in r["topics"]]
    assert len(positives) >= 4
    hit = sum(topic in tagger.tag(r["title"], r["text"]).topics for r in positives)
    false = sum(topic in tagger.tag(r["title"], r["text"]).topics for r in negatives)
    assert hit >= 0.75 * len(positives)
    assert false <= 2


def test_dev_set_micro_f1(tagger: Tagger) -> None:
    tp = fp = fn = 0
    for row in DEV:
        got, want = set(tagger.tag(row["title"], row["text"]).topics), set(row["topics"])
        tp, fp, fn = tp + len(got & want), fp + len(got - want), fn + len(want - got)
    assert 2 * tp / (2 * tp + fp + fn) >= 0.93


def test_non_ai_news_gets_no_tag(tagger: Tagger) -> None:
    for row in DEV:
        if not row["topics"] and not row.get("ai"):
            assert tagger.tag(row["title"], row["text"]).topics == [], row["id"]


def test_byd_deepseek_seed_section(tagger: Tagger) -> None:
    title, text = seed_002_section("BYD shares hit record", "Is Nvidia share price")
    tagging = tagger.tag(title, text)
    assert set(tagging.topics) == {"byd", "deepseek", "autonomous-driving", "ai-stocks"}
    assert tagging.topics[0] == "byd"  # the main topic comes first


def test_nvidia_share_price_seed_section(tagger: Tagger) -> None:
    title, text = seed_002_section("Is Nvidia share price", "The aftermath from")
    assert {"nvidia", "deepseek", "ai-stocks"} <= set(tagger.tag(title, text).topics)


def test_nikola_tesla_is_not_the_carmaker(tagger: Tagger) -> None:
    text = (
        "Nikola Tesla, the inventor of the alternating current motor, died in 1943. Tesla "
        "worked for Edison before building his own laboratory, and Tesla coils are still "
        "demonstrated in museums. Tesla filed hundreds of patents. " * 3
    )
    assert "tesla" not in tagger.tag("The life of Nikola Tesla", text).topics


def test_open_source_software_is_not_open_source_ai(tagger: Tagger) -> None:
    text = (
        "The open source web server received a security update. Open source maintainers "
        "say the project, released under the Apache licence, needs more volunteers. " * 3
    )
    assert tagger.tag("Open source server patched", text).topics == []


def test_passing_mention_is_not_a_topic(tagger: Tagger) -> None:
    body = (
        "BYD sold more plug-in hybrids than ever in the quarter, the Shenzhen carmaker said. "
        "BYD's new Seal and Dolphin models sold well in Europe, and BYD plans a factory in "
        "Hungary. Analysts said BYD benefits from its own batteries. Unlike Tesla, it makes "
        "most of its components. BYD expects exports to double next year."
    )
    topics = tagger.tag("BYD sales climb on hybrids", body).topics
    assert "byd" in topics and "tesla" not in topics


def test_scores_reasons_and_purity(tagger: Tagger) -> None:
    row = DEV[0]
    first, second = tagger.tag(row["title"], row["text"]), tagger.tag(row["title"], row["text"])
    assert first == second
    assert all(0.0 < s <= 1.0 for s in first.scores.values())
    assert set(first.topics) <= set(first.scores)
    assert any("deepseek" in r for r in first.reasons["deepseek"])


def test_per_topic_threshold_override() -> None:
    schema = load_topics(ROOT / "seeds/topics.toml")
    strict = Tagger(schema, TaggingSettings(thresholds={"deepseek": 1.01}))
    row = DEV[0]
    assert "deepseek" not in strict.tag(row["title"], row["text"]).topics


def test_tagging_is_fast(tagger: Tagger) -> None:
    text = " ".join(" ".join(r["text"] for r in DEV[:8]).split()[:1000])
    start = time.perf_counter()
    for _ in range(50):
        tagger.tag("Nvidia shares fall", text)
    # Budget is 2 ms per 1,000 words; allow slack for a loaded CI machine.
    assert (time.perf_counter() - start) / 50 < 0.01


def test_open_release_in_other_words(tagger: Tagger) -> None:
    text = (
        "Mistral said it would publish the weights of its new reasoning model on Hugging Face, "
        "so that companies can run the 24-billion-parameter model on their own servers. The "
        "company said the model outperforms larger rivals on mathematics and coding benchmarks "
        "and that a bigger version would remain available only through its paid API."
    )
    got = tagger.tag("Mistral releases the weights of its reasoning model", text)
    assert "open-source-ai" in got.topics


def test_value_wiped_off_an_ai_company_is_an_ai_stock_move_and_a_bank_is_not(
    tagger: Tagger,
) -> None:
    move = (
        "{co} shares slid 9 percent on Friday, wiping more than $100 billion off its market "
        "value, after {why}. Analysts said investors had priced in too much, and the stock "
        "dragged down the wider index, which ended the day 3 percent lower."
    )
    chips = move.format(co="Broadcom", why="a forecast for its AI accelerators disappointed")
    bank = move.format(co="Barclays", why="the lender set aside more money for bad loans")
    assert "ai-stocks" in tagger.tag("Broadcom's market-cap loss tops $100 billion", chips).topics
    assert tagger.tag("Bank's stock rout deepens", bank).topics == []


def test_the_company_behind_a_sell_off_gets_its_own_topic(tagger: Tagger) -> None:
    text = (
        "Nvidia's shares slid 17 percent on Monday, wiping almost $600 billion off its market "
        "value, after DeepSeek said its new model had been trained on a fraction of the chips "
        "used by American rivals. Investors questioned whether cloud companies would keep "
        "buying so many processors if DeepSeek's efficiency claims held up, and other "
        "semiconductor stocks fell sharply. The Nasdaq lost 3 percent."
    )
    got = tagger.tag(
        "Chip giant's stock rout deepens as investors digest Chinese lab's claims", text
    )
    assert {"nvidia", "ai-stocks", "deepseek"} <= set(got.topics)
    assert any("cause of the market move" in r for r in got.reasons["deepseek"])
    # Named once, as an example, the same company is not the cause.
    once = text.replace(" if DeepSeek's efficiency claims held up", "")
    assert "deepseek" not in tagger.tag("Chip giant's stock rout deepens", once).topics
