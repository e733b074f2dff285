"""The terms that pin down one event, read from a document's words: rare names, numbers and
"name number" pairs ("ernie 4.5"), amounts in any language ("1845亿元" = "184.5 billion"), and
the specifics whose difference makes another event (versions, quarters, dates, a headline's
product version). Pure: words in, terms out (`monitor.dedup.features` tokenises)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from itertools import compress, repeat
from typing import NamedTuple

from monitor.config.dedup import DedupSettings
from monitor.dedup.rarity import general_rarity, is_cjk

_DIGIT = re.compile(r"\d")
# Quarters, in English and Chinese: "Q2", "second quarter", "第二季度", "二季度".
_QUARTER = re.compile(
    r"\bq([1-4])\b|\b(first|second|third|fourth)[- ]quarter|第?([一二三四1-4])季度",
    re.IGNORECASE,
)
# What every match of _QUARTER holds (the letters of "quarter" fold to none but themselves).
_QUARTER_HINT = re.compile(r"[qQ](?:[1-4]|[uU][aA][rR][tT][eE][rR])")
_QUARTERS = {"first": "1", "second": "2", "third": "3", "fourth": "4"} | {
    c: str(n) for n, c in enumerate("一二三四", 1)
}
_MONTHS = {
    name[:3]: name
    for name in [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ]
} | {"sept": "september"}
_ORDINAL = re.compile(r"^(\d+)(?:st|nd|rd|th)$")
# A product and its version written as one word: "gpt-4.5", "deepseek-v3", "qwen3", "llama-3.1".
_NAMED_VERSION = re.compile(r"^([a-z]{2,})-(v?\d+(?:\.\d+)*[a-z]?)$|^([a-z]{3,})(\d+(?:\.\d+)*)$")
# Words after a number that scale it: "184.5 billion" and "1845亿" (a Chinese word starting
# with 亿, 1e8) are one amount, written "184.5 billion" in either language. Longest first.
_SCALES = (
    ("万亿", 12),
    ("亿", 8),
    ("千万", 7),
    ("百万", 6),
    ("万", 4),
)
_SCALE_WORDS = {
    "thousand": 3,
    "million": 6,
    "mn": 6,
    "billion": 9,
    "bn": 9,
    "trillion": 12,
    "tn": 12,
}
# The same in languages that write "5,5" for 5.5 and "184.500" for 184500 (`DECIMAL_COMMA`):
# read only in their texts, whose numbers are rewritten first (`european_numbers`).
_EUROPEAN_SCALE_WORDS = {
    "millionen": 6,
    "milliarden": 9,
    "millions": 6,
    "milliards": 9,
    "millones": 6,
    "milioni": 6,
    "miliardi": 9,
    "milhões": 6,
    "bilhões": 9,
    "milionów": 6,
    "miliardów": 9,
    "mln": 6,
    "mld": 9,
    "mrd": 9,
    "mio": 6,
}
DECIMAL_COMMA = frozenset(
    ("de", "es", "fr", "it", "pt", "pl", "nl", "tr", "ru", "uk", "cs", "sv", "da", "fi", "ro")
)
_THOUSANDS_DOT = re.compile(r"(?<=\d)\.(?=\d{3}(?!\d))")
_COMMA_DECIMAL = re.compile(r"(?<=\d),(?=\d)")
_SCALED = re.compile(r"^(\d+(?:\.\d+)?)(bn|mn|tn)$")
_SCALE_NAMES = ((12, "trillion"), (9, "billion"), (6, "million"), (3, "thousand"))
# Capitalised mid-sentence words (names) count as event terms from this rarity on: "Apple"
# and "Grand Park" do, "The" does not.
_NAME_RARITY = 1.5
# Longer "words" are markup or URLs, not names (and the term columns hold 200 characters).
_LONGEST = 60


class Token(NamedTuple):  # a tuple: an article has thousands of them
    word: str  # lower-cased
    capital: bool  # capitalised in the text, not at the start of a sentence


def _has_digit(word: str) -> bool:
    return _DIGIT.search(word) is not None


def _is_key(token: Token, language: str) -> bool:
    """Can this word name what a following number is about ("Ernie 4.5", "March 2025")?"""
    if _has_digit(token.word) or len(token.word) < 2 or is_cjk(token.word):
        return False
    word = token.word
    return (
        word in _MONTHS
        or word in _MONTHS.values()
        or token.capital
        or general_rarity(word, language) >= 3.0
    )


def _key(word: str) -> str:
    return _MONTHS.get(word, word)


def _value(word: str) -> str | None:
    """A number as a specific: "12th" and "012" are "12"; dates and times with / or : are
    left out (their parts are ambiguous)."""
    if "/" in word or ":" in word:
        return None
    ordinal = _ORDINAL.match(word)
    if ordinal:
        word = ordinal.group(1)
    return word.lstrip("0") or "0" if word.isdigit() else word


def european_numbers(text: str) -> str:
    """Numbers as English writes them, in a text of a `DECIMAL_COMMA` language: "184.500"
    is 184500 and "74,9" is 74.9 (so "74,9 Prozent" and "74.9%" share a term)."""
    return _COMMA_DECIMAL.sub(".", _THOUSANDS_DOT.sub("", text))


def _scale(word: str, european: bool = False) -> int | None:
    """The power of ten a word after a number scales it by ("billion" 9, "亿元" 8);
    `european`: "Milliarden" and the like too."""
    scale = _SCALE_WORDS.get(word)
    if scale is None and european:
        scale = _EUROPEAN_SCALE_WORDS.get(word)
    if scale is None and word and is_cjk(word[0]):
        scale = next((power for prefix, power in _SCALES if word.startswith(prefix)), None)
    return scale


def amount(words: list[str], at: int, european: bool = False) -> str | None:
    """The amount the number `words[at]` gives with the word after it, in English at four
    significant digits ("1845", "亿元" -> "184.5 billion"; "5.5bn" -> "5.5 billion"): one
    term in every language. None when nothing scales it or it is under a thousand."""
    number, scale = words[at], None
    scaled = _SCALED.match(number)
    if scaled:
        number, scale = scaled.group(1), _SCALE_WORDS[scaled.group(2)]
    elif at + 1 < len(words):
        scale = _scale(words[at + 1], european)
    if scale is None:
        return None
    try:
        value = Decimal(f"{Decimal(number).scaleb(scale):.4g}")  # both sides round alike
    except InvalidOperation:  # "1.2.3"
        return None
    for power, name in _SCALE_NAMES:
        if value >= Decimal(10) ** power:
            return f"{value.scaleb(-power).normalize():f} {name}"
    return None


def event_terms(
    tokens: list[Token], settings: DedupSettings, language: str = "en"
) -> tuple[dict[str, float], dict[str, tuple[str, ...]]]:
    """Names, products, versions and numbers (the terms that pin down one event), and the
    specifics: which numbers follow which name ("ernie" -> "4.5", "march" -> "2025").
    Rarity is read in the text's language (Chinese words in Chinese); numbers and Latin
    names such as "R1", "H20" or "Ernie 4.5" are the same terms in every language."""
    capitals = [at for at, token in enumerate(tokens) if token.capital]
    return words_terms([t.word for t in tokens], capitals, settings, language)


def words_terms(
    words: list[str], capitals: list[int], settings: DedupSettings, language: str
) -> tuple[dict[str, float], dict[str, tuple[str, ...]]]:
    """`event_terms` of the words, `capitals` the positions of the capitalised ones.

    Each term's weight depends on the word alone, so each distinct word is weighed once;
    the terms keep the order in which a walk through the words would first add them. The
    walk's rules: a word longer than `_LONGEST` is skipped (and is no number's name); a
    word with a digit is a term (bare number) and, after a name (`_is_key`), adds "name
    number"; another word of two characters or more is a term when rare, or when
    capitalised and rare enough for a name."""
    rare = settings.rare_rarity
    distinct = list(dict.fromkeys(words))
    if distinct and max(map(len, distinct)) > _LONGEST:
        distinct = [w for w in distinct if len(w) <= _LONGEST]
    weight = dict(zip(distinct, map(general_rarity, distinct, repeat(language)), strict=True))
    numbers = set(filter(_DIGIT.search, weight))
    count = len(words)
    first = dict(zip(reversed(words), range(count - 1, -1, -1), strict=True))  # word -> first
    # (position, 0 = the word, 1 = "name number", 2 = an amount, term, weight)
    found: list[tuple[int, int, str, float]] = []
    for word, rarity in weight.items():
        if word in numbers:
            # A bare number says less than a name; "Ernie 4.5" (name + version) says more.
            found.append((first[word], 0, word, min(rarity, 3.0) + 1.0))
        elif len(word) > 1 and rarity >= rare:
            found.append((first[word], 0, word, rarity))
    capital = set(capitals)
    named: dict[str, int] = {}
    for at in capitals:
        named.setdefault(words[at], at)
    for word, at in named.items():
        rarity = weight.get(word, 0.0)
        if word not in numbers and len(word) > 1 and _NAME_RARITY <= rarity < rare:
            found.append((at, 0, word, rarity))
    specifics: dict[str, set[str]] = {}
    for at in compress(range(count), map(numbers.__contains__, words)):
        if not at or len(words[at - 1]) > _LONGEST:
            continue
        value = _value(words[at])
        if value is not None and _is_key(Token(words[at - 1], at - 1 in capital), language):
            key = _key(words[at - 1])
            found.append((at, 1, f"{key} {value}", max(general_rarity(key), 3.0) + 1.0))
            specifics.setdefault(key, set()).add(value)
    for at in compress(range(count), map(numbers.__contains__, words)):
        scaled = amount(words, at, language in DECIMAL_COMMA)
        if scaled is not None:  # as specific as "name number"
            found.append((at, 2, scaled, 4.0))
    terms: dict[str, float] = {}
    for _at, _kind, term, rarity in sorted(found):
        terms.setdefault(term, rarity)
    return _cap(terms, settings.event_terms), {k: tuple(sorted(v)) for k, v in specifics.items()}


def _cap(vector: dict[str, float], limit: int) -> dict[str, float]:
    if len(vector) <= limit:
        return vector
    return dict(sorted(vector.items(), key=lambda kv: (-kv[1], kv[0]))[:limit])


def head_versions(words: list[str], limit: int) -> dict[str, tuple[str, ...]]:
    """The versions the head (the first `limit` words: mostly the headline) gives a product
    in one word, "gpt-4.5" -> "gpt": ("4.5",). Two headlines on GPT-4.5 and GPT-5 report two
    releases, however alike the rest reads; in the body such a word may only recall the
    model something was built on ("R1, built on DeepSeek-V3"), so the body's are left out."""
    found: dict[str, set[str]] = {}
    for word in words[:limit]:
        match = _NAMED_VERSION.match(word)
        if match:
            name, version = filter(None, match.groups())  # one alternative matched
            found.setdefault(name, set()).add(version)
    return {name: tuple(sorted(versions)) for name, versions in found.items()}


def quarters(text: str) -> tuple[str, ...]:
    """The quarters a text names ("2" for Q2, "second quarter", "第二季度")."""
    if "季度" not in text and _QUARTER_HINT.search(text) is None:
        return ()
    found = set()
    for match in _QUARTER.finditer(text):
        english, word, chinese = match.groups()
        found.add(english or _QUARTERS.get((word or chinese or "").lower(), chinese or ""))
    return tuple(sorted(q for q in found if q))
