"""How rare a term is: in general English (wordfreq) and in this corpus (document frequency),
whichever says it is more common. "DeepSeek" is rare in English but not in a DeepSeek feed."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from monitor.dedup.wordtable import WordFrequencies, word_lists

# Zipf frequency (log10 of occurrences per billion words) of the most common English words
# ("the" is about 7.7): a word's rarity is how far below that it sits.
ZIPF_TOP = 7.0
# A news text is about 500 words, so a term in a share q of the documents occurs about
# q / 500 per word: Zipf log10(q) + 6.3.
_DOC_ZIPF = math.log10(1e9 / 500)


_CJK_CHAR = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")
# wordfreq reads these through its own segmenters (a second jieba dictionary, MeCab).
_CJK_LANGUAGES = frozenset({"zh", "ja", "ko"})
_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af]")


def is_cjk(word: str) -> bool:
    return _CJK_CHAR.search(word) is not None


@cache
def word_frequencies(language: str) -> WordFrequencies:
    return WordFrequencies(language)


def zipf_frequency(word: str, language: str) -> float:
    """wordfreq's `zipf_frequency(word, language)` (its "best" list, minimum 0), the same
    value to the last digit, read from `WordFrequencies` instead of wordfreq's dict. The
    steps are wordfreq 3's `_word_frequency`: its tokens, digits folded, 1/f summed."""
    lossy_tokenize, smash_numbers, digit_freq = _wordfreq_steps()
    # wordfreq's tokenizer leaves a word of lower-case ASCII letters as it is (every
    # language but the CJK ones, which never come here).
    simple = word.isascii() and word.isalpha() and word.islower()
    simple = simple and language not in _CJK_LANGUAGES
    tokens = [word] if simple else lossy_tokenize(word, language)
    if not tokens:
        return 0.0  # wordfreq's minimum
    table = word_frequencies(language)
    one_over = 0.0
    for token in tokens:
        smashed = smash_numbers(token)
        centibels = table.centibels(smashed)
        if centibels is None:
            return 0.0  # wordfreq's minimum
        freq = 10 ** (-centibels / 100)  # wordfreq's cB_to_freq
        if smashed != token:
            freq *= digit_freq(token)
        one_over += 1.0 / freq
    # Never a jieba language here (general_rarity reads Chinese itself), so no penalty for
    # inferred word breaks. Rounded to 3 significant digits, as wordfreq does.
    unrounded = max(1.0 / one_over, 1e-9)  # zipf 0
    freq = round(unrounded, math.floor(-math.log(unrounded, 10)) + 3)
    return float(round(math.log(freq, 10) + 9, 2))  # wordfreq's freq_to_zipf


@cache
def _wordfreq_steps() -> tuple[Any, Any, Any]:
    """wordfreq's tokenizer, digit folding and digit frequencies (imported once)."""
    from wordfreq.numbers import digit_freq, smash_numbers
    from wordfreq.tokens import lossy_tokenize

    return lossy_tokenize, smash_numbers, digit_freq


@cache
def jieba() -> Any:
    """jieba with its packaged dictionary, loaded once and quietly (it logs to stderr): the
    Chinese words of a text, and how common each is."""
    import jieba as module  # type: ignore[import-untyped]

    module.setLogLevel(logging.WARNING)
    module.initialize()
    return module


@cache
def general_rarity(word: str, language: str = "en") -> float:
    """0 (very common in the language) to 7 (never seen); numbers count by their digits.
    A Chinese word is looked up in jieba's dictionary whatever the text's language (one
    dictionary in memory, not also wordfreq's); Japanese and Korean words (kana, hangul),
    which neither segments well, count as common. A language with no word list is read
    as English: names and numbers still count."""
    if is_cjk(word):
        if _KANA.search(word) or _HANGUL.search(word):
            return 0.0
        words = jieba().dt
        count = words.FREQ.get(word, 0)
        if not count:
            return ZIPF_TOP
        return max(0.0, ZIPF_TOP - math.log10(count / words.total * 1e9))
    # wordfreq ships its word lists in the wheel: nothing is downloaded.
    if language not in word_lists() or language in _CJK_LANGUAGES:
        language = "en"  # Latin names in a Chinese text: "DeepSeek", "R1"
    return max(0.0, ZIPF_TOP - zipf_frequency(word, language))


@dataclass(frozen=True)
class Corpus:
    """Document frequencies of the indexed documents' terms; empty = general English only."""

    docs: int = 0
    df: Mapping[str, int] = field(default_factory=dict)
    # Pseudo-documents the counts are spread over: a small corpus says little.
    prior_docs: float = 1000.0

    def rarity(self, term: str, general: float, own: int = 0) -> float:
        """`own`: how many of the documents being compared are counted in `df`; a term
        is common when *other* documents use it."""
        count = self.df.get(term, 0) - own
        if count <= 0:
            return general
        share = count / (self.docs + self.prior_docs)
        return max(0.0, min(general, ZIPF_TOP - (math.log10(share) + _DOC_ZIPF)))

    def weigh(
        self, terms: Mapping[str, float], counted: Sequence[Mapping[str, float]] = ()
    ) -> dict[str, float]:
        """`terms` (term -> general rarity) re-weighted by this corpus, leaving out the
        documents `counted` (their event terms) that are part of it."""
        return {t: self.rarity(t, w, sum(t in c for c in counted)) for t, w in terms.items()}
