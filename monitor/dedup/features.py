"""Pure fingerprints of one document for the three dedup layers: text hash, MinHash signature
over word shingles (character shingles for Chinese and Japanese), and what the same-story
score compares (language, lead embedding, event terms, specifics such as versions, quarters
and dates, the years the text is about)."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

import numpy as np

from monitor.config.dedup import DedupSettings, english_settings
from monitor.dedup.embed import load_embedder, pack
from monitor.dedup.minhash import signature
from monitor.dedup.rarity import general_rarity, is_cjk, jieba

# Runs of Chinese, Japanese or Korean characters: words are not separated by spaces there.
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]+")
_CJK_CHARS = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")
_CJK_PER_WORD = 1.6
# The characters jieba segments with its dictionary (its `re_han_default`).
_JIEBA_HAN = re.compile(r"[\u4e00-\u9fd5]")
# Quarters, in English and Chinese: "Q2", "second quarter", "第二季度", "二季度".
_QUARTER = re.compile(
    r"\bq([1-4])\b|\b(first|second|third|fourth)[- ]quarter|第?([一二三四1-4])季度",
    re.IGNORECASE,
)
_QUARTERS = {"first": "1", "second": "2", "third": "3", "fourth": "4"} | {
    c: str(n) for n, c in enumerate("一二三四", 1)
}
# py3langid tells Chinese varieties apart; for the embedder and word lists they are Chinese.
_CHINESE = {code: "zh" for code in ("wuu", "yue", "lzh", "gan", "hak", "nan", "cmn", "zh-tw")}
# What language identification reads: it costs in proportion (about 1 ms a 1,000
# characters). The first 1,000 characters gave the same language as the first 2,000 on
# every text of ../shared/eval/semeval-train.csv (1,445 of its 2,566 texts are longer),
# eval/data/topical.jsonl and the 88 real pages of ../shared/realworld.
LANGUAGE_CHARS = 1000
# Years a news text can be about; a bare number in this range is read as a year.
_FIRST_YEAR, _LAST_YEAR = 1990, 2099

# Words and numbers; inner dots, dashes and apostrophes stay so that "4.5", "u.s" and
# "x1" are one token each.
_TOKEN = re.compile(r"[^\W_](?:[\w.'\-]*[^\W_])?")
_DIGIT = re.compile(r"\d")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-"})
_SENTENCE_ENDS = '.!?:;"。'
_MINHASH_SEED = 1  # fixed: signatures are stored and compared across runs
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
# Capitalised mid-sentence words (names) count as event terms from this rarity on: "Apple"
# and "Grand Park" do, "The" does not.
_NAME_RARITY = 1.5
# Longer "words" are markup or URLs, not names (and the term columns hold 200 characters).
_LONGEST = 60


class Token(NamedTuple):  # a tuple: an article has thousands of them
    word: str  # lower-cased
    capital: bool  # capitalised in the text, not at the start of a sentence


@dataclass(frozen=True)
class Features:
    text_hash: str
    shingle_count: int
    signature: tuple[int, ...]
    # int8 unit vectors of the lead (title + first words) and of its head; b"" = not computed
    # (yet): the matcher embeds a lead only when the vectors can change a verdict.
    embedding: bytes
    event: dict[str, float]  # names, rare words, numbers, "name number" -> general rarity
    specifics: dict[str, tuple[str, ...]] = field(default_factory=dict)  # "ernie" -> ("4.5",)
    published: datetime | None = None
    language: str | None = None  # detected from the text (py3langid)
    years: tuple[int, ...] = ()  # the years its lead names (1990-2099): when it happened
    # Indexed as a same-story duplicate: a later document is compared with its original,
    # never linked through it (no chains A <- B <- C of ever more distant stories).
    duplicate: bool = False
    lead: str = ""  # what the embedding reads (`lead_text`): kept to embed it later
    # The English embedder's vectors of an English lead (`DedupSettings.english_embedder`),
    # like `embedding`: what two English texts are compared by.
    embedding_en: bytes = b""


def normalise(text: str) -> str:
    """Case, quotes, dashes and spacing folded: what `exact` compares."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).lower()
    return " ".join(text.split())


def text_hash(text: str) -> str:
    return hashlib.sha256(normalise(text).encode("utf-8")).hexdigest()


def _tokens(text: str) -> list[Token]:
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    # "4,000" is "4000", as Chinese and many feeds write it.
    text = _THOUSANDS.sub("", text)
    cjk = _CJK.search(text) is not None
    if cjk:  # CJK runs become their own tokens, then words (jieba)
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


def _segment(run: str) -> list[str]:
    """Chinese words of a run of CJK characters. jieba cuts only the common Han characters
    with its dictionary and returns any other character alone (kana, hangul, rare Han), so
    a run without them is cut here the same way, without loading the dictionary (1.3 s of
    CPU and 80 MB in every process that meets Chinese)."""
    if _JIEBA_HAN.search(run) is None:
        return list(run)
    return [w for w in jieba().lcut(run) if w.strip()]


def chars(words: list[str]) -> list[str]:
    """CJK words split into characters: near-copy shingles of Chinese are on characters."""
    out: list[str] = []
    for word in words:
        if is_cjk(word):
            out.extend(word)
        else:
            out.append(word)
    return out


def tokenize(text: str) -> list[str]:
    return [t.word for t in _tokens(text)]


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


def event_terms(
    tokens: list[Token], settings: DedupSettings, language: str = "en"
) -> tuple[dict[str, float], dict[str, tuple[str, ...]]]:
    """Names, products, versions and numbers (the terms that pin down one event), and the
    specifics: which numbers follow which name ("ernie" -> "4.5", "march" -> "2025").
    Rarity is read in the text's language (Chinese words in Chinese); numbers and Latin
    names such as "R1", "H20" or "Ernie 4.5" are the same terms in every language."""
    rare = settings.rare_rarity
    terms: dict[str, float] = {}
    specifics: dict[str, set[str]] = {}
    previous: Token | None = None
    for token in tokens:
        word = token.word
        if len(word) > _LONGEST:
            previous = None
            continue
        weight = general_rarity(word, language)
        if _has_digit(word):
            # A bare number says less than a name; "Ernie 4.5" (name + version) says more.
            terms[word] = max(terms.get(word, 0.0), min(weight, 3.0) + 1.0)
            value = _value(word)
            if previous is not None and value is not None and _is_key(previous, language):
                key = _key(previous.word)
                terms[f"{key} {value}"] = max(general_rarity(key), 3.0) + 1.0
                specifics.setdefault(key, set()).add(value)
        elif len(word) > 1 and (weight >= rare or (token.capital and weight >= _NAME_RARITY)):
            terms[word] = max(terms.get(word, 0.0), weight)
        previous = token
    return _cap(terms, settings.event_terms), {k: tuple(sorted(v)) for k, v in specifics.items()}


def _cap(vector: dict[str, float], limit: int) -> dict[str, float]:
    if len(vector) <= limit:
        return vector
    return dict(sorted(vector.items(), key=lambda kv: (-kv[1], kv[0]))[:limit])


def quarters(text: str) -> tuple[str, ...]:
    """The quarters a text names ("2" for Q2, "second quarter", "第二季度")."""
    found = set()
    for match in _QUARTER.finditer(text):
        english, word, chinese = match.groups()
        found.add(english or _QUARTERS.get((word or chinese or "").lower(), chinese or ""))
    return tuple(sorted(q for q in found if q))


def years(tokens: list[Token]) -> tuple[int, ...]:
    """The years a text names: bare four-digit numbers from 1990 to 2099 ("2025", "2025年")."""
    found = {int(t.word) for t in tokens if len(t.word) == 4 and t.word.isdigit()}
    return tuple(sorted(y for y in found if _FIRST_YEAR <= y <= _LAST_YEAR))


def detect_language(text: str) -> str | None:
    """The language of a text (py3langid, offline), None for a text too short to tell."""
    if len(text.strip()) < 3:
        return None
    import py3langid  # imported on first use: the polling process never detects

    lang, _score = py3langid.classify(text[:LANGUAGE_CHARS])
    return _CHINESE.get(str(lang), str(lang))


def lead_text(title: str, text: str, words: int) -> str:
    """The title and the first words of the text: what the embedding reads. Chinese and
    Japanese count 1.6 characters a word (100 words = 160 characters)."""
    kept: list[str] = []
    budget = float(words)
    for chunk in text.split():
        if budget <= 0:
            break
        cjk = len(_CJK_CHARS.findall(chunk))
        cost = cjk / _CJK_PER_WORD + (0 if cjk == len(chunk) else 1)
        if cost > budget and cjk:  # cut inside a long run of characters
            chunk = chunk[: int(budget * _CJK_PER_WORD)]
        kept.append(chunk)
        budget -= cost
    head = " ".join(kept)
    return f"{title.strip()}. {head}" if title.strip() else head


def shingles(words: list[str], size: int) -> set[bytes]:
    if len(words) < size:
        return {" ".join(words).encode("utf-8")} if words else set()
    return {" ".join(words[i : i + size]).encode("utf-8") for i in range(len(words) - size + 1)}


def minhash(items: set[bytes], num_perm: int) -> tuple[int, ...]:
    return signature(items, num_perm, _MINHASH_SEED)


def band_keys(signature: tuple[int, ...], rows: int) -> list[int]:
    """LSH band keys as signed 64-bit integers (a portable BIGINT column)."""
    data = np.asarray(signature, dtype=np.uint64).tobytes()
    width = rows * 8  # bytes per band
    keys = []
    for band in range(len(signature) // rows):
        chunk = data[band * width : (band + 1) * width]
        digest = hashlib.blake2b(band.to_bytes(2, "big") + chunk, digest_size=8)
        keys.append(int.from_bytes(digest.digest(), "big", signed=True))
    return keys


def embed_leads(leads: list[str], settings: DedupSettings, english: bool = False) -> list[bytes]:
    """The packed embeddings of `leads` (`Features.embedding`, or with `english` those of the
    English embedder, `Features.embedding_en`), in one batch."""
    if not leads:
        return []
    if english:
        settings = english_settings(settings)
    embedder = load_embedder(settings.embedder, settings.model_dir, settings.model_threads)
    return [pack(*vectors) for vectors in embedder.embed_many(leads, settings.head_tokens)]


def extract_features(
    title: str,
    text: str,
    settings: DedupSettings,
    published: datetime | None = None,
    language: str | None = None,
    embed: bool = True,
) -> Features:
    """`language`: the text's language if known (else detected here). `embed`: compute the
    lead's embeddings now (and the English embedder's for an English text); without it they
    are empty and the matcher embeds `lead` only if a candidate needs it (the extraction
    processes never load a model)."""
    language = language or detect_language(f"{title}\n{text}")
    body = _tokens(text)
    words = [t.word for t in body]
    items = shingles(chars(words or tokenize(title)), settings.shingle_words)
    # Headlines capitalise every word: only the body tells names from words.
    heading = [Token(t.word, False) for t in _tokens(title)]
    event, specifics = event_terms(heading + body, settings, language or "en")
    quarter = quarters(f"{title}\n{text}")
    if quarter:
        specifics["quarter"] = quarter
    lead = lead_text(title, text, settings.lead_words)
    return Features(
        text_hash=text_hash(text if text.strip() else title),
        shingle_count=len(items),
        signature=minhash(items, settings.num_perm),
        embedding=embed_leads([lead], settings)[0] if embed else b"",
        event=event,
        specifics=specifics,
        published=published,
        language=language,
        years=years(_tokens(lead)),
        lead=lead,
        embedding_en=(
            embed_leads([lead], settings, english=True)[0]
            if embed and language == "en" and settings.routes_english
            else b""
        ),
    )
