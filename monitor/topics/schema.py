"""The topic schema (`seeds/topics.toml`): loaded once, validated, frozen.

Also owns the text normalisation that phrases and articles share, so that a phrase written in
the schema matches the article text exactly when the tagger sees the same tokens.
"""

from __future__ import annotations

import itertools
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from monitor.errors import ConfigError
from monitor.topics.han import CHARS_PER_WORD, HAN, fold, has_han

# Possessive 's is dropped so "DeepSeek's" matches "deepseek"; every other non-word character
# separates tokens, so "US-China", "U.S.-China" and "us china" meet in the middle. A Han
# character is a token of its own ("DeepSeek发布" = "deepseek 发 布"), see han.py.
_POSSESSIVE = re.compile(r"['’]s\b")
_TOKEN = re.compile(f"[{HAN}]|[^\\W_{HAN}]+")
# The characters a token of which counts 1/1.6 of a word (`word_positions`).
_SHORT = re.compile("[\u4e00-\u9fff\u3400-\u4dbf]")
_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_TERM_CLASSES = ("names", "keywords", "context")
_TOPIC_KEYS = {"id", "name", "description", "not", "requires", *_TERM_CLASSES}


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens, the unit every phrase and article is matched in."""
    text = text.lower()
    if has_han(text):
        text = fold(text)
    return _TOKEN.findall(_POSSESSIVE.sub("", text))


def word_positions(toks: list[str]) -> list[float]:
    """Where each token starts, counted in words (a Han character is 1/1.6 of one), plus the
    total at the end: `pos[i]` for token i, `pos[len(toks)]` for the length."""
    if _SHORT.search("".join(toks)) is None:  # every token a word: 0.0, 1.0, 2.0, ...
        return list(map(float, range(len(toks) + 1)))
    step = 1.0 / CHARS_PER_WORD
    pos = [0.0]
    # is_han inlined: this runs once per token of every article.
    pos.extend(
        itertools.accumulate(
            step
            if len(t) == 1 and ("\u4e00" <= t <= "\u9fff" or "\u3400" <= t <= "\u4dbf")
            else 1.0
            for t in toks
        )
    )
    return pos


def normalize_phrase(text: str) -> str:
    return " ".join(tokenize(text))


@dataclass(frozen=True)
class Term:
    phrase: str  # normalised: tokens joined by one space
    near: str | None = None  # lexicon that must occur within a few words, or None


@dataclass(frozen=True)
class Topic:
    id: str
    name: str
    description: str
    names: tuple[Term, ...]
    keywords: tuple[Term, ...]
    context: tuple[Term, ...]
    exclude: tuple[str, ...]  # the TOML key `not`
    requires: tuple[str, ...]


@dataclass(frozen=True)
class Exemplar:
    match: str  # normalised phrase looked for in an exemplar's title and opening
    topics: tuple[str, ...]


@dataclass(frozen=True)
class TopicSchema:
    topics: tuple[Topic, ...]
    lexicons: Mapping[str, tuple[str, ...]]
    exemplars: tuple[Exemplar, ...]
    # Whole words that hide a shorter phrase (投资 in 投资者, 百度 in 一百度): a phrase or
    # lexicon term found strictly inside one of them does not count. Needed for Chinese,
    # where phrases are matched without word boundaries.
    words: tuple[str, ...] = ()

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(t.id for t in self.topics)

    def topic(self, topic_id: str) -> Topic:
        for t in self.topics:
            if t.id == topic_id:
                return t
        raise KeyError(topic_id)


def load_topics(path: Path) -> TopicSchema:
    """Read and validate a topics.toml; every problem names the file and the key."""
    where = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(where, None, f"cannot read topic schema: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(where, None, f"not valid TOML: {exc}") from exc
    return parse_topics(data, where)


def parse_topics(data: Mapping[str, Any], where: str = "topics.toml") -> TopicSchema:
    unknown = set(data) - {"lexicons", "words", "topic", "exemplar"}
    if unknown:
        raise ConfigError(where, sorted(unknown)[0], "unknown key")
    lexicons = _parse_lexicons(data.get("lexicons", {}), where)
    raw_topics = data.get("topic", [])
    if not isinstance(raw_topics, list) or not raw_topics:
        raise ConfigError(where, "topic", "at least one [[topic]] table is required")
    topics: list[Topic] = []
    for i, raw in enumerate(raw_topics):
        topic = _parse_topic(raw, where, f"topic[{i}]", lexicons)
        if any(t.id == topic.id for t in topics):
            raise ConfigError(where, f"topic[{i}].id", f"duplicate topic id {topic.id!r}")
        topics.append(topic)
    ids = {t.id for t in topics}
    exemplars = tuple(
        _parse_exemplar(raw, where, f"exemplar[{i}]", ids)
        for i, raw in enumerate(_as_list(data.get("exemplar", []), where, "exemplar"))
    )
    words = tuple(normalize_phrase(w) for w in _strings(data.get("words", []), where, "words"))
    return TopicSchema(
        tuple(topics), MappingProxyType(lexicons), exemplars, tuple(w for w in words if w)
    )


def _as_list(value: Any, where: str, key: str) -> list[Any]:
    if not isinstance(value, list):
        raise ConfigError(where, key, "must be a list")
    return value


def _strings(value: Any, where: str, key: str) -> list[str]:
    items = _as_list(value, where, key)
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise ConfigError(where, key, f"every entry must be a non-empty string, got {item!r}")
    return items


def _parse_lexicons(raw: Any, where: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, dict):
        raise ConfigError(where, "lexicons", "must be a table of word lists")
    return {
        name: tuple(normalize_phrase(p) for p in _strings(words, where, f"lexicons.{name}"))
        for name, words in raw.items()
    }


def _parse_term(text: str, where: str, key: str, lexicons: Mapping[str, Any]) -> Term:
    phrase, _, near = text.partition("@")
    near = near.strip()
    if near and near not in lexicons:
        raise ConfigError(where, key, f"{text!r} names an unknown lexicon {near!r}")
    normalised = normalize_phrase(phrase)
    if not normalised:
        raise ConfigError(where, key, f"{text!r} has no words")
    return Term(normalised, near or None)


def _parse_topic(raw: Any, where: str, key: str, lexicons: Mapping[str, Any]) -> Topic:
    if not isinstance(raw, dict):
        raise ConfigError(where, key, "must be a table")
    topic_id = raw.get("id")
    if not isinstance(topic_id, str) or not _ID.match(topic_id):
        raise ConfigError(where, f"{key}.id", "must be a lower-case id like 'open-source-ai'")
    key = f"topic.{topic_id}"
    unknown = set(raw) - _TOPIC_KEYS
    if unknown:
        raise ConfigError(where, f"{key}.{sorted(unknown)[0]}", "unknown key")
    for text_key in ("name", "description"):
        if not isinstance(raw.get(text_key), str) or not raw[text_key].strip():
            raise ConfigError(where, f"{key}.{text_key}", "must be a non-empty string")
    terms = {
        cls: tuple(
            _parse_term(t, where, f"{key}.{cls}", lexicons)
            for t in _strings(raw.get(cls, []), where, f"{key}.{cls}")
        )
        for cls in _TERM_CLASSES
    }
    if not terms["names"] and not terms["keywords"]:
        raise ConfigError(where, f"{key}.names", "a topic needs names or keywords")
    requires = tuple(_strings(raw.get("requires", []), where, f"{key}.requires"))
    for lex in requires:
        if lex not in lexicons:
            raise ConfigError(where, f"{key}.requires", f"unknown lexicon {lex!r}")
    exclude = tuple(normalize_phrase(p) for p in _strings(raw.get("not", []), where, f"{key}.not"))
    return Topic(
        id=topic_id,
        name=raw["name"].strip(),
        description=raw["description"].strip(),
        names=terms["names"],
        keywords=terms["keywords"],
        context=terms["context"],
        exclude=tuple(p for p in exclude if p),
        requires=requires,
    )


def _parse_exemplar(raw: Any, where: str, key: str, ids: set[str]) -> Exemplar:
    if not isinstance(raw, dict) or set(raw) != {"match", "topics"}:
        raise ConfigError(where, key, "must be a table with exactly `match` and `topics`")
    match = normalize_phrase(raw["match"]) if isinstance(raw["match"], str) else ""
    if not match:
        raise ConfigError(where, f"{key}.match", "must be a non-empty phrase")
    topics = _strings(raw["topics"], where, f"{key}.topics")
    for t in topics:
        if t not in ids:
            raise ConfigError(where, f"{key}.topics", f"unknown topic {t!r}")
    return Exemplar(match, tuple(topics))
