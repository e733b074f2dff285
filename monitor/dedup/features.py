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
from itertools import compress
from operator import itemgetter

import numpy as np

from monitor.config.dedup import DedupSettings, english_settings
from monitor.dedup.embed import load_embedder, pack
from monitor.dedup.minhash import signature
from monitor.dedup.rarity import is_cjk, jieba
from monitor.dedup.terms import (
    DECIMAL_COMMA,
    Token,
    european_numbers,
    head_versions,
    quarters,
    words_terms,
)

# Runs of Chinese, Japanese or Korean characters: words are not separated by spaces there.
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]+")
_CJK_CHARS = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")
_CJK_PER_WORD = 1.6
# The characters jieba segments with its dictionary (its `re_han_default`).
_JIEBA_HAN = re.compile(r"[\u4e00-\u9fd5]")
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
# (Written without backtracking: letters and digits, then runs of "_.'-" each followed by
# letters or digits; the same tokens as r"[^\W_](?:[\w.'\-]*[^\W_])?", faster.)
_TOKEN = re.compile(r"[^\W_]++(?:[_.'\-]++[^\W_]++)*+")
# Split on its tokens, kept: [separator, token, separator, ..., token, separator].
_TOKEN_SPLIT = re.compile(f"({_TOKEN.pattern})")
# A possessive "'s" at the end of a lower-cased word, with the dots, dashes and apostrophes
# before it, in words joined by NUL ("it's" -> "it", "a.'s" -> "a").
_POSSESSIVE = re.compile(r"[.'\-]*'s(?=\x00|\Z)")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
# The same commas with the digit before each (put back): faster than the lookbehind.
_THOUSANDS_DIGIT = re.compile(r"(\d),(?=\d{3}(?!\d))")
_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-"})
_QUOTE_PAIRS = [(chr(a), str(b)) for a, b in _QUOTES.items()]
_SENTENCE_ENDS = '.!?:;"。'
_MINHASH_SEED = 1  # fixed: signatures are stored and compared across runs


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
    text = _straighten(unicodedata.normalize("NFKC", text)).lower()
    return " ".join(text.split())


def _straighten(text: str) -> str:
    """`text.translate(_QUOTES)`, a few times faster (translate looks up every character)."""
    for curly, straight in _QUOTE_PAIRS:
        if curly in text:
            text = text.replace(curly, straight)
    return text


def text_hash(text: str) -> str:
    return hashlib.sha256(normalise(text).encode("utf-8")).hexdigest()


def _tokens(text: str) -> list[Token]:
    words, capitals = _words(text)
    flags = [False] * len(words)
    for at in capitals:
        flags[at] = True
    return list(map(Token, words, flags))


def _prepared(text: str) -> tuple[str, bool]:
    """The text as it is tokenised: NFKC, straight quotes and dashes, "4,000" as "4000" (as
    Chinese and many feeds write it); CJK runs (if any: the flag) spaced off to be their own
    tokens."""
    text = _straighten(unicodedata.normalize("NFKC", text))
    text = _THOUSANDS_DIGIT.sub(r"\1", text)
    cjk = _CJK.search(text) is not None
    if cjk:
        text = _CJK.sub(r" \g<0> ", text)
    return text, cjk


def _lowered(raws: list[str]) -> list[str]:
    """The tokens' words: lower-cased, without a possessive "'s" (and the dots, dashes and
    apostrophes then left at the end). One pass over the joined tokens (NUL is in none)."""
    if not raws:
        return []
    joined = "\x00".join(raws).lower()
    if "'s" in joined:
        joined = _POSSESSIVE.sub("", joined)
    return joined.split("\x00")


def _starts_sentence(parts: list[str], at: int) -> bool:
    """Does token `at` of the split text start a sentence: do the three characters after
    the token before it hold a line break, or, spaces aside, start with a full stop and the
    like or hold nothing (the end of the text)?"""
    gap = parts[2 * at]  # what separates the two tokens: one character at least
    if len(gap) < 3:
        gap = "".join(parts[2 * at : 2 * at + 3])
    gap = gap[:3].lstrip(" ")
    return gap[:1] in _SENTENCE_ENDS or "\n" in gap


def _words(text: str) -> tuple[list[str], list[int]]:
    """The words of a text (`_tokens`) and the positions of the capitalised ones: those
    whose first letter is upper-case, not at the start of a sentence. The tokens are found,
    lower-cased and stripped by C-level passes over the whole text; Python only looks at
    the gap before each upper-case token."""
    text, cjk = _prepared(text)
    parts = _TOKEN_SPLIT.split(text)
    raws = parts[1::2]
    words = _lowered(raws)
    upper = compress(range(len(raws)), map(str.isupper, map(itemgetter(0), raws)))
    capitals = [at for at in upper if at and not _starts_sentence(parts, at)]
    if cjk:
        return _segment_runs(raws, words, capitals)
    return words, capitals


def _segment_runs(
    raws: list[str], words: list[str], capitals: list[int]
) -> tuple[list[str], list[int]]:
    """`words` with each token that is a run of CJK characters cut into its words, and the
    capitals' positions moved along (a CJK token is CJK throughout: the runs were spaced off
    and CJK has no capitals)."""
    out: list[str] = []
    moved: list[int] = []
    capital = set(capitals)
    for at, (raw, word) in enumerate(zip(raws, words, strict=True)):
        if _CJK_CHARS.match(raw):
            out.extend(_segment(raw))
        else:
            if at in capital:
                moved.append(len(out))
            out.append(word)
    return out, moved


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
    if _CJK_CHARS.search("".join(words)) is None:
        return list(words)
    out: list[str] = []
    for word in words:
        if is_cjk(word):
            out.extend(word)
        else:
            out.append(word)
    return out


def tokenize(text: str) -> list[str]:
    return _words(text)[0]


def years(tokens: list[Token]) -> tuple[int, ...]:
    """The years a text names: bare four-digit numbers from 1990 to 2099 ("2025", "2025年")."""
    return _in_range({int(t.word) for t in tokens if len(t.word) == 4 and t.word.isdigit()})


def _years_of(text: str) -> tuple[int, ...]:
    """`years(_tokens(text))` without cutting the CJK runs into words (no run holds a digit)
    or telling names apart."""
    text, _cjk = _prepared(text)
    words = _lowered(_TOKEN.findall(text))
    return _in_range({int(w) for w in words if len(w) == 4 and w.isdigit()})


def _in_range(found: set[int]) -> tuple[int, ...]:
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
    # A chunk costs at least 1 / 1.6 of a word: the first 2 * words + 2 chunks are enough.
    for chunk in text.split(None, 2 * max(0, int(words)) + 2):
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
    # The English embedder reads a few pairs only: its lean session (less memory, more time).
    embedder = load_embedder(
        settings.embedder, settings.model_dir, settings.model_threads, lean=english
    )
    return [pack(*vectors) for vectors in embedder.embed_many(leads, settings.head_tokens)]


def load_embedders(settings: DedupSettings) -> None:
    """Load the embedders `embed_leads` reads with (the English one too, when English pairs
    are routed to it) as it loads them: for a thread to load them ahead of the first lead."""
    load_embedder(settings.embedder, settings.model_dir, settings.model_threads, lean=False)
    if settings.routes_english:
        english = english_settings(settings)
        load_embedder(english.embedder, english.model_dir, english.model_threads, lean=True)


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
    numbers = european_numbers if language in DECIMAL_COMMA else str  # "74,9" is 74.9
    words, capitals = _words(numbers(text))
    items = shingles(chars(words or tokenize(title)), settings.shingle_words)
    # Headlines capitalise every word: only the body tells names from words.
    heading = tokenize(numbers(title))
    named = [len(heading) + at for at in capitals]
    event, specifics = words_terms(heading + words, named, settings, language or "en")
    quarter = quarters(f"{title}\n{text}")
    if quarter:
        specifics["quarter"] = quarter
    for key, version in head_versions(heading + words, settings.head_tokens).items():
        specifics[key] = tuple(sorted({*specifics.get(key, ()), *version}))
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
        years=_years_of(lead),
        lead=lead,
        embedding_en=(
            embed_leads([lead], settings, english=True)[0]
            if embed and language == "en" and settings.routes_english
            else b""
        ),
    )
