"""The fingerprints' text passes: tokens and the capitalised ones, the lead's years, event
terms, quarters, characters and the lead, each against the plain per-token walk it replaced
(written out here) on tricky English, Chinese and mixed texts."""

from __future__ import annotations

import random
import re
import unicodedata

from monitor.config.dedup import DedupSettings
from monitor.dedup.features import (
    _CJK,
    _QUOTES,
    _SENTENCE_ENDS,
    _TOKEN,
    _segment,
    _tokens,
    chars,
    extract_features,
    lead_text,
    tokenize,
    years,
)
from monitor.dedup.terms import Token, event_terms, quarters

SETTINGS = DedupSettings()

TEXTS = [
    "",
    "   ",
    "Apple said on Monday. The iPhone 16 ships in March 2025; Tim Cook's team, at U.S. stores.",
    "It's 4,000 and 1,000,000 units -- 'quoted' ‘curly’ “double” – dash — 2025's best, 1,990 and 2,025.",
    "A line\nStarts here and Ends there.\n\nNew Paragraph: Next One? Yes! Done; Then",
    "a B\nc D e F",  # the gap after "a" holds a line break: "B" starts a sentence
    "Ernie 4.5 and DeepSeek R1 beat GPT-4o; Baidu's Ernie X1 on the 12th of March, 012.",
    "深度求索发布了DeepSeek-R1模型，2025年1月20日，第一季度营收增长。",
    "百度在2024年发布文心一言4.0，三季度 Q3 收入 4,000 亿元。苹果 Apple 2023 年",
    "서울에서 Samsung 발표 2025. ひらがなのテスト GPU 4.5 カタカナ・テスト",
    "Straße İstanbul ΟΔΟΣ Σ ǅ Ⅻ ２０２５ ² x_y _a_ a-'s b.'S",
    "word " + "x" * 70 + " 2025 Name 7",
    "The second-quarter results, Q2 and fourth quarter; QUARTER Q5 q1.",
]


def _reference_tokens(text: str) -> list[Token]:
    """The per-token walk `_tokens` was before it became C-level passes."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    text = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text)
    cjk = _CJK.search(text) is not None
    if cjk:
        text = _CJK.sub(r" \g<0> ", text)
    tokens: list[Token] = []
    sentence_start = True
    for match in _TOKEN.finditer(text):
        raw = match.group()
        if cjk and _CJK.fullmatch(raw):
            tokens.extend(Token(w, False) for w in _segment(raw))
        else:
            word = raw.lower()
            if word.endswith("'s"):
                word = word[:-2]
            word = word.strip("'.-")
            if word:
                tokens.append(Token(word, raw[0].isupper() and not sentence_start))
        gap = text[match.end() : match.end() + 3].lstrip(" ")
        sentence_start = gap[:1] in _SENTENCE_ENDS or "\n" in gap
    return tokens


def _random_texts(count: int) -> list[str]:
    pieces = [
        *"aAbBsSqQ   \n..,,''-–—’‘“”!?:;\"_0123456789",
        "'s",
        "'S",
        "2025",
        "1,990",
        "Q2",
        "second quarter",
        "第二季度",
        "日本",
        "年",
        "・",
        "한국",
        "İ",
        "ΟΔΟΣ",
        "March",
        "Ernie",
        "12th",
        " billion",
        "亿元",
        "5.5bn",
        "x" * 61,
        "U.S.",
        "\u3000",
    ]
    rng = random.Random(17)
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 30))) for _ in range(count)]


def test_tokens_equal_the_per_token_walk() -> None:
    for text in TEXTS + _random_texts(1500):
        assert _tokens(text) == _reference_tokens(text), text
        assert tokenize(text) == [t.word for t in _reference_tokens(text)], text


def test_names_are_capitalised_words_not_at_a_sentence_start() -> None:
    tokens = _tokens("Apple said. The iPhone and Tim Cook's U.S. team\nLater it's 4,000")
    assert [t.word for t in tokens if t.capital] == ["tim", "cook", "u.s"]
    assert [t.word for t in tokens][-3:] == ["later", "it", "4000"]


def test_the_leads_years_equal_those_of_its_tokens() -> None:
    texts = [
        ("DeepSeek in 2025", "In 2024 and 2,025 the firm's 2023's model; FY2022, 1989, 2100."),
        ("深度求索2025年发布", "2024年1月，百度发布文心一言。" * 30),
        ("", "３月 ２０２３年 and 2019-2020 and 2021."),
    ]
    for title, text in texts:
        features = extract_features(title, text, SETTINGS, language="en", embed=False)
        lead = lead_text(title, text, SETTINGS.lead_words)
        assert features.lead == lead
        assert features.years == years(_reference_tokens(lead))
    english = extract_features(*texts[0], SETTINGS, language="en", embed=False)
    assert english.years == (2023, 2024, 2025)
    chinese = extract_features(*texts[1], SETTINGS, language="zh", embed=False)
    assert chinese.years == (2024, 2025)


def _reference_event_terms(
    tokens: list[Token], language: str
) -> tuple[dict[str, float], dict[str, tuple[str, ...]]]:
    """The walk `event_terms` was (the features module's own helpers for each step)."""
    from monitor.dedup.rarity import general_rarity
    from monitor.dedup.terms import _cap, _has_digit, _is_key, _key, _value, amount

    terms: dict[str, float] = {}
    specifics: dict[str, set[str]] = {}
    previous: Token | None = None
    words = [t.word for t in tokens]
    for at, token in enumerate(tokens):
        word = token.word
        if len(word) > 60:
            previous = None
            continue
        weight = general_rarity(word, language)
        if _has_digit(word):
            terms[word] = max(terms.get(word, 0.0), min(weight, 3.0) + 1.0)
            value = _value(word)
            if previous is not None and value is not None and _is_key(previous, language):
                key = _key(previous.word)
                terms[f"{key} {value}"] = max(general_rarity(key), 3.0) + 1.0
                specifics.setdefault(key, set()).add(value)
            scaled = amount(words, at)
            if scaled is not None:
                terms[scaled] = 4.0
        elif len(word) > 1 and (
            weight >= SETTINGS.rare_rarity or (token.capital and weight >= 1.5)
        ):
            terms[word] = max(terms.get(word, 0.0), weight)
        previous = token
    capped = _cap(terms, SETTINGS.event_terms)
    return capped, {k: tuple(sorted(v)) for k, v in specifics.items()}


def test_event_terms_equal_the_walk_in_its_order() -> None:
    for text in TEXTS + _random_texts(300):
        for language in ("en", "zh"):
            tokens = _tokens(text)
            got = event_terms(tokens, SETTINGS, language)
            expected = _reference_event_terms(tokens, language)
            assert got == expected, text
            assert list(got[0]) == list(expected[0]), text  # the order terms were met


def test_a_name_counts_where_it_is_capitalised() -> None:
    text = "the grand park opened. Later the Grand Park said Ernie 4.5 beat " + "x" * 61 + " 7"
    terms, specifics = event_terms(_tokens(text), SETTINGS)
    # Common words, names where capitalised mid-sentence; the bare "7" is a number but the
    # long word before it names nothing.
    assert list(terms) == ["grand", "park", "ernie", "4.5", "ernie 4.5", "7"]
    assert terms["ernie 4.5"] > terms["4.5"] > terms["7"]
    assert specifics == {"ernie": ("4.5",)}


def test_quarters_need_a_q_or_chinese_quarter() -> None:
    assert quarters("no such words here") == ()
    assert quarters("Second QUARTER and q4; Q5 is none") == ("2", "4")
    assert quarters("第三季度") == ("3",)


def test_characters_and_the_lead_of_long_texts() -> None:
    assert chars(["deepseek", "发布", "r1"]) == ["deepseek", "发", "布", "r1"]
    words = ["no", "cjk", "here"]
    out = chars(words)
    assert out == words and out is not words
    spaced = "中 " * 400  # one-character chunks cost 1 / 1.6 of a word each
    assert lead_text("", spaced, 100) == " ".join(["中"] * 160)
    english = " ".join(f"w{i}" for i in range(1000))
    assert lead_text("T", english, 100) == "T. " + " ".join(f"w{i}" for i in range(100))


def test_normalise_folds_quotes_dashes_case_and_spacing() -> None:
    from monitor.dedup.features import normalise

    for text in TEXTS:
        expected = unicodedata.normalize("NFKC", text).translate(_QUOTES).lower()
        assert normalise(text) == " ".join(expected.split())
    assert normalise("It’s  “Fine” — OK") == 'it\'s "fine" - ok'


def test_thousands_commas_go_with_or_without_the_lookbehind() -> None:
    from monitor.dedup.features import _THOUSANDS, _THOUSANDS_DIGIT

    for text in [*TEXTS, "1,000,000", "1,2,345", "12,3456", "a,000", "4,000.5", "1,000,00", ",000"]:
        assert _THOUSANDS_DIGIT.sub(r"\1", text) == _THOUSANDS.sub("", text), text
