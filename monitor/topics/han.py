"""Chinese (Han) text for the tagger: traditional forms folded into simplified ones, one token per
character, and how many English-style words a run of characters is worth.

Chinese has no spaces, so every Han character is a token of its own and an alias such as 深度求索
is the four-token phrase 深 度 求 索: matching a phrase is then matching a substring, with the
same index, positions and counting as English words. No word segmenter (jieba) is needed for
that: the aliases are the dictionary, and the few words an alias hides inside (投资 in 投资者)
are listed as whole `words` in topics.toml.
"""

from __future__ import annotations

import itertools
import re
from functools import cache
from typing import Any

# CJK Unified Ideographs, extension A and the compatibility block.
HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAS_HAN = re.compile(f"[{HAN}]")
# Full-width letters and digits (common in Chinese typesetting) as ASCII; full-width punctuation
# separates tokens either way. A table, not NFKC: this runs on every Chinese article.
_HALF_WIDTH = {c: c - 0xFEE0 for c in range(0xFF10, 0xFF5B) if chr(c - 0xFEE0).isalnum()}
# A Chinese news text of 1,000 English-equivalent words has about 1,600 characters: one character
# counts 1/1.6 of a word in length normalisation, the opening "lead" and `@lexicon` windows.
CHARS_PER_WORD = 1.6


def has_han(text: str) -> bool:
    return _HAS_HAN.search(text) is not None


def is_han(token: str) -> bool:
    # String comparisons, not a regex: this runs once per token of every article.
    return len(token) == 1 and (
        "\u4e00" <= token <= "\u9fff"
        or "\u3400" <= token <= "\u4dbf"
        or "\uf900" <= token <= "\ufaff"
    )


@cache
def _converter() -> Any:
    # OpenCC's Taiwan-to-simplified table with phrases also maps the regional words
    # (輝達 -> 英伟达, 晶片 -> 芯片, 資料中心 -> 数据中心), not only the characters.
    import opencc

    return opencc.OpenCC("tw2sp")


def fold(text: str) -> str:
    """Simplified characters and half-width letters and digits (ＧＰＵ -> GPU) for text with Han."""
    return str(_converter().convert(text.translate(_HALF_WIDTH)))


def show(phrase: str) -> str:
    """A normalised phrase as a reader writes it: no spaces next to a Han character."""
    parts = phrase.split(" ")
    out = parts[0]
    for prev, part in itertools.pairwise(parts):
        out += part if is_han(prev) or is_han(part) else f" {part}"
    return out
