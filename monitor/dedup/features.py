"""Pure fingerprints of one document for the three dedup layers: text hash, MinHash
signature over word shingles, and the weighted term sets the same-story score compares."""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from functools import cache

import numpy as np
from datasketch import MinHash

from monitor.dedup.settings import DedupSettings

# Words and numbers; inner dots, dashes and apostrophes stay so that "4.5", "u.s" and
# "x1" are one token each.
_TOKEN = re.compile(r"[^\W_](?:[\w.'\-]*[^\W_])?")
_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-"})
# Zipf frequency of the most common English words ("the" is about 7.7): a word's weight
# is how far below that it sits, so function words weigh nothing without a stop list.
_ZIPF_TOP = 7.0
_MINHASH_SEED = 1  # fixed: signatures are stored and compared across runs


@dataclass(frozen=True)
class Features:
    text_hash: str
    shingle_count: int
    signature: tuple[int, ...]
    body: dict[str, float]  # (1 + log tf) * rarity, the highest `body_terms` of them
    lead: dict[str, float]  # rarity squared over the title and the first words
    event: dict[str, float]  # rare words, numbers and "name version" pairs -> rarity
    published: datetime | None = None


@cache
def rarity(word: str) -> float:
    """How rare a word is in general English (0 = very common, 7 = never seen)."""
    # wordfreq ships its word lists in the wheel (nothing is downloaded); it also spreads
    # the frequency of numbers by their digits and splits "open-source" as English does.
    from wordfreq import zipf_frequency

    return max(0.0, _ZIPF_TOP - float(zipf_frequency(word, "en")))


def normalise(text: str) -> str:
    """Case, quotes, dashes and spacing folded: what `exact` compares."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).lower()
    return " ".join(text.split())


def text_hash(text: str) -> str:
    return hashlib.sha256(normalise(text).encode("utf-8")).hexdigest()


def tokenize(text: str) -> list[str]:
    words = []
    for match in _TOKEN.finditer(normalise(text)):
        word = match.group()
        if word.endswith("'s"):
            word = word[:-2]
        words.append(word.strip("'.-"))
    return [w for w in words if w]


def _has_digit(word: str) -> bool:
    return any(ch.isdigit() for ch in word)


def event_terms(words: list[str], settings: DedupSettings) -> dict[str, float]:
    """Names, products, versions and numbers: the terms that pin down one event."""
    threshold = _ZIPF_TOP - settings.rare_zipf
    terms: dict[str, float] = {}
    previous = ""
    for word in words:
        weight = rarity(word)
        if _has_digit(word):
            # A bare number says less than a name; "Ernie 4.5" (name + version) says more.
            terms[word] = max(terms.get(word, 0.0), min(weight, 3.0) + 1.0)
            if previous and not _has_digit(previous) and rarity(previous) >= 2.0:
                pair = f"{previous} {word}"
                terms[pair] = max(rarity(previous), 3.0) + 1.0
        elif weight >= threshold and len(word) > 1:
            terms[word] = weight
        previous = word
    return terms


def _cap(vector: dict[str, float], limit: int) -> dict[str, float]:
    if len(vector) <= limit:
        return vector
    return dict(sorted(vector.items(), key=lambda kv: (-kv[1], kv[0]))[:limit])


def shingles(words: list[str], size: int) -> set[bytes]:
    if len(words) < size:
        return {" ".join(words).encode("utf-8")} if words else set()
    return {" ".join(words[i : i + size]).encode("utf-8") for i in range(len(words) - size + 1)}


def minhash(items: set[bytes], num_perm: int) -> tuple[int, ...]:
    sketch = MinHash(num_perm=num_perm, seed=_MINHASH_SEED)
    if items:
        sketch.update_batch(sorted(items))
    return tuple(int(v) for v in sketch.hashvalues)


def band_keys(signature: tuple[int, ...], rows: int) -> list[int]:
    """LSH band keys as signed 64-bit integers (a portable BIGINT column)."""
    keys = []
    for band in range(len(signature) // rows):
        chunk = np.asarray(signature[band * rows : (band + 1) * rows], dtype=np.uint64)
        digest = hashlib.blake2b(band.to_bytes(2, "big") + chunk.tobytes(), digest_size=8)
        keys.append(int.from_bytes(digest.digest(), "big", signed=True))
    return keys


def extract_features(
    title: str, text: str, settings: DedupSettings, published: datetime | None = None
) -> Features:
    body_words = tokenize(text)
    title_words = tokenize(title)
    words = title_words + body_words
    counts = Counter(words)
    body = {w: (1.0 + math.log(n)) * rarity(w) for w, n in counts.items() if rarity(w) > 0}
    lead_words = title_words + body_words[: settings.lead_words]
    lead = {w: rarity(w) for w in set(lead_words) if rarity(w) > 0}
    items = shingles(body_words or title_words, settings.shingle_words)
    return Features(
        text_hash=text_hash(text if text.strip() else title),
        shingle_count=len(items),
        signature=minhash(items, settings.num_perm),
        body=_cap(body, settings.body_terms),
        lead=lead,
        event=event_terms(words, settings),
        published=published,
    )
