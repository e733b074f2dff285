"""Word rarity: wordfreq's Zipf frequencies read from compact tables, the same values."""

from __future__ import annotations

import pytest
import wordfreq

from monitor.dedup.rarity import WordFrequencies, general_rarity, zipf_frequency

WORDS = [
    "the",
    "haus",
    "straße",
    "über",
    "москва",
    "état",
    "l'état",
    "don't",
    "e-mail",
    "co-operate",
    "naïve",
    "gpt-4o",
    "2025",
    "2050",
    "1990",
    "4.5",
    "1,000",
    "007",
    "12th",
    "x1",
    "h20",
    "u.s",
    "deepseek",
    "qwxzyv",
    "",
    "...",
    "'",
]


@pytest.mark.parametrize("language", ["en", "de", "fr", "ru", "id"])
def test_zipf_frequency_is_wordfreqs(language: str) -> None:
    for word in WORDS:
        assert zipf_frequency(word, language) == wordfreq.zipf_frequency(word, language), word


def test_every_listed_word_keeps_its_frequency() -> None:
    table = WordFrequencies("id")
    pack = wordfreq.get_frequency_list("id")
    listed = {word: index for index, bucket in enumerate(pack) for word in bucket}
    for word, index in listed.items():
        assert table.centibels(word) == index
    assert table.centibels("qwxzyv-not-a-word") is None


def test_general_rarity() -> None:
    assert general_rarity("the") < 1.0
    assert general_rarity("qwxzyv") == 7.0
    assert general_rarity("2025") == 7.0 - wordfreq.zipf_frequency("2025", "en")
    # A language without a word list reads as English.
    assert general_rarity("apple", "xx") == general_rarity("apple", "en")


@pytest.mark.parametrize("language", ["en", "de", "pt", "tr"])
def test_plain_words_skip_the_tokenizer_with_the_same_values(language: str) -> None:
    plain = [w for w in wordfreq.top_n_list(language, 300) if w.isascii() and w.isalpha()]
    plain += ["deepseek", "qwxzyv", "istanbul", "i"]
    for word in plain:
        assert zipf_frequency(word, language) == wordfreq.zipf_frequency(word, language), word
