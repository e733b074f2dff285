"""The topic tagger: a pure stage, (title, text) in, topic scores with their reasons out.

Evidence per topic comes from the schema's phrases (weighted by class, by where they occur and,
with diminishing returns, by how often), normalised for article length, damped when the topic is
only a passing mention next to a dominant one, and nudged by similarity to labelled seed sections.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import mul

from monitor.config.sections import TaggingSettings
from monitor.topics.han import show
from monitor.topics.schema import Term, Topic, TopicSchema, tokenize, word_positions

_CLASS_WEIGHT = {"names": 1.0, "keywords": 0.4, "context": 0.2}
_LABEL = {"names": "name", "keywords": "keyword", "context": "context"}
# Topics about one company (or a set of companies): these are the ones a passing mention fools.
_THEMES = {"open-source-ai", "us-china-ai-race", "ai-investment", "ai-stocks", "autonomous-driving"}
# A market move and the `cause` lexicon: the company that set off the move is a subject too.
_MOVES = "ai-stocks"
_CAUSE = "cause"  # words of cause next to the company: "rattled", "shock", 冲击
_LINK = "cause_link"  # connectives between a move and its cause: "fell 17% after DeepSeek…"
_LINK_WORDS = 3  # the company follows the connective within this many words…
_MOVE_WORDS = 20  # …and the move phrase comes at most this many words before it
_STOPWORD_TEXT = (
    "a an and are as at be been but by for from has have he her his in into is it its itself "
    "of on or our said says that the their them they this to was were which while who will "
    "with would also than more most after before over about not no can could new one two"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@dataclass
class Tagging:
    topics: list[str]  # ordered by score, main topic first
    scores: dict[str, float]  # every topic with a nonzero score, in [0, 1]
    reasons: dict[str, list[str]]  # human-readable evidence per scored topic


@dataclass(frozen=True)
class _Entry:
    topic: int
    cls: str  # "names", "keywords", "context" or "not"
    term: Term


@dataclass(frozen=True)
class _Exemplar:
    title: str
    topics: tuple[str, ...]
    vector: dict[str, float]


class Tagger:
    def __init__(
        self,
        schema: TopicSchema,
        settings: TaggingSettings | None = None,
        exemplars: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.schema = schema
        self.settings = settings or TaggingSettings()
        self._index: dict[str, list[_Entry]] = {}
        for i, topic in enumerate(schema.topics):
            for cls in ("names", "keywords", "context"):
                for term in getattr(topic, cls):
                    self._index.setdefault(term.phrase, []).append(_Entry(i, cls, term))
            for phrase in topic.exclude:
                self._index.setdefault(phrase, []).append(_Entry(i, "not", Term(phrase)))
        self._lexicon_of: dict[str, list[str]] = {}
        for name, words in schema.lexicons.items():
            for w in words:
                self._lexicon_of.setdefault(w, []).append(name)
        self._words = frozenset(schema.words)
        # Phrases are found by walking their prefixes token by token (a trie in a set): a
        # Han character starts dozens of aliases, but few texts continue past two characters.
        self._known = frozenset((*self._index, *self._lexicon_of, *self._words))
        self._prefixes: set[str] = set()
        for phrase in self._known:
            parts = phrase.split(" ")
            self._prefixes.update(" ".join(parts[:k]) for k in range(1, len(parts)))
        self._idf: dict[str, float] = {}
        self._exemplars = self._build_exemplars(exemplars)

    # -- exemplars -------------------------------------------------------------------------

    def _build_exemplars(self, exemplars: Sequence[tuple[str, str]]) -> list[_Exemplar]:
        docs = [
            (title, text, _content_counts(tokenize(f"{title} {text}"))) for title, text in exemplars
        ]
        if not docs:
            return []
        df: Counter[str] = Counter()
        for _, _, counts in docs:
            df.update(counts.keys())
        n = len(docs)
        self._idf = {w: math.log((1 + n) / (1 + c)) + 1.0 for w, c in df.items()}
        built = []
        for title, text, counts in docs:
            opening = " ".join(tokenize(f"{title} {text[:400]}"))
            labels = next(
                (ex.topics for ex in self.schema.exemplars if f" {ex.match} " in f" {opening} "),
                None,
            )
            if labels is None:  # not labelled in topics.toml: trust the lexical tagger
                labels = tuple(self._tag(title, text, with_exemplars=False).topics)
            built.append(_Exemplar(title or opening[:60], labels, self._vector(counts)))
        return built

    def _vector(self, counts: Mapping[str, int]) -> dict[str, float]:
        # Unknown words have no idf: they cannot make two texts similar anyway.
        vec = {w: (1 + math.log(c)) * self._idf[w] for w, c in counts.items() if w in self._idf}
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        return {w: v / norm for w, v in vec.items()}

    # -- tagging ---------------------------------------------------------------------------

    def tag(self, title: str, text: str) -> Tagging:
        return self._tag(title, text, with_exemplars=True)

    def _tag(self, title: str, text: str, *, with_exemplars: bool) -> Tagging:
        s = self.settings
        title_toks = tokenize(title)
        body_toks = tokenize(text)
        toks = title_toks + body_toks
        n_title = len(title_toks)
        # Positions in words, so that Chinese characters count like English words do.
        wpos = word_positions(toks)
        body_start = wpos[n_title]
        hits, lex_pos = self._scan(toks)
        topics = self.schema.topics
        evidence = [0.0] * len(topics)
        core = [0.0] * len(topics)  # names + keywords only: context alone never tags
        in_title = [False] * len(topics)
        reasons: dict[str, list[str]] = {}
        length_norm = max(1.0, (wpos[-1] - body_start) / s.ref_words) ** s.length_exponent
        per_topic = [
            self._topic_hits(t, hits.get(ti, []), lex_pos, wpos) for ti, t in enumerate(topics)
        ]
        subject = self._title_subject(per_topic, n_title)
        opener = self._lead_subject(per_topic, subject, n_title, wpos)
        for ti, topic in enumerate(topics):
            if any(not lex_pos.get(lex) for lex in topic.requires):
                continue
            title_weight = s.title_weight if ti in subject else s.title_weight * 0.5
            for (cls, phrase), positions in _by_term(per_topic[ti]).items():
                weight = _CLASS_WEIGHT[cls] * self._damping(topic, phrase, hits.get(ti, []))
                t_hits = sum(1 for p in positions if p < n_title)
                body = [wpos[p] - body_start for p in positions if p >= n_title]
                amount = weight * title_weight if t_hits else 0.0
                for k, p in enumerate(body):
                    lead = s.lead_weight if p < s.lead_words else 1.0
                    amount += weight * lead / math.sqrt(k + 1)  # diminishing returns
                if opener == (ti, positions[0]):
                    amount += weight * s.title_weight
                    in_title[ti] = True
                    reasons.setdefault(topic.id, []).append(
                        "subject: named first in the opening, the title names no company"
                    )
                evidence[ti] += amount
                if cls != "context":
                    core[ti] += amount
                    in_title[ti] = in_title[ti] or (t_hits > 0 and ti in subject)
                where = f"title+{len(body)}x in body" if t_hits else f"{len(body)}x in body"
                reasons.setdefault(topic.id, []).append(f"{_LABEL[cls]} '{show(phrase)}' ({where})")
        norm = [e / length_norm if c > 0 else 0.0 for e, c in zip(evidence, core, strict=True)]
        self._credit_cause(norm, in_title, per_topic, lex_pos, wpos, reasons)
        self._damp_passing(norm, in_title, reasons)
        if with_exemplars and self._exemplars:
            self._add_similarity(toks, norm, reasons)
        scores: dict[str, float] = {}
        for ti, topic in enumerate(topics):
            if norm[ti] > 0:
                scores[topic.id] = round(1.0 - math.exp(-norm[ti] / s.scale), 4)
        chosen = sorted(
            (t for t, v in scores.items() if v >= s.thresholds.get(t, s.threshold)),
            key=lambda t: -scores[t],
        )[: s.max_topics]
        return Tagging(chosen, scores, {t: reasons.get(t, []) for t in scores})

    def _scan(
        self, toks: list[str]
    ) -> tuple[dict[int, list[tuple[int, int, _Entry]]], dict[str, list[int]]]:
        """Every phrase hit as (position, length, entry) per topic, and lexicon positions."""
        hits: dict[int, list[tuple[int, int, _Entry]]] = {}
        lex_pos: dict[str, list[int]] = {}
        words: list[tuple[int, int]] = []  # spans of whole `words` that hide shorter phrases
        covered = 0  # end of the furthest `words` span seen so far
        n = len(toks)
        known, prefixes = self._known, self._prefixes
        for i, tok in enumerate(toks):
            found = [tok] if tok in known else []
            key, end = tok, i + 1
            while key in prefixes and end < n:
                key = f"{key} {toks[end]}"
                end += 1
                if key in known:
                    found.append(key)
            if not found:
                continue
            taken: set[tuple[int, str]] = set()  # (topic, class): the longest phrase wins
            for key in reversed(found):
                length = key.count(" ") + 1
                if key in self._words:
                    words.append((i, i + length))
                    covered = max(covered, i + length)
                if i < covered and any(
                    a <= i and i + length <= b and length < b - a for a, b in words[-4:]
                ):
                    continue  # 投资 inside 投资者
                for entry in self._index.get(key, ()):
                    if (entry.topic, entry.cls) not in taken:
                        taken.add((entry.topic, entry.cls))
                        hits.setdefault(entry.topic, []).append((i, length, entry))
                for lex in self._lexicon_of.get(key, ()):
                    lex_pos.setdefault(lex, []).append(i)
        return hits, lex_pos

    def _topic_hits(
        self,
        topic: Topic,
        hits: list[tuple[int, int, _Entry]],
        lex_pos: Mapping[str, list[int]],
        wpos: list[float],
    ) -> list[tuple[int, str, str]]:
        """The topic's valid hits as (position, class, phrase), one per mention."""
        excluded = [(p, p + n) for p, n, e in hits if e.cls == "not"]
        out: list[tuple[int, str, str]] = []
        w = self.settings.near_window
        last_end = -10
        last = 0  # index in `out` of the mention that last_end belongs to
        for pos, length, entry in sorted(hits, key=lambda h: (h[0], -h[1])):
            if entry.cls == "not":
                continue
            if any(a <= pos and pos + length <= b for a, b in excluded):
                continue  # "tesla" inside "Nikola Tesla"
            near = entry.term.near
            if near and not _near(lex_pos.get(near, []), pos, length, w, wpos):
                continue
            if entry.cls != "context":
                # "Alibaba's Qwen", "Nvidia H20 chips": adjacent names are one mention, counted
                # as the strongest of them ("the weights" keyword, then "weights" name).
                if pos <= last_end + 1:
                    last_end = max(last_end, pos + length)
                    if _CLASS_WEIGHT[entry.cls] > _CLASS_WEIGHT[out[last][1]]:
                        out[last] = (out[last][0], entry.cls, entry.term.phrase)
                    continue
                last_end = pos + length
                last = len(out)
            out.append((pos, entry.cls, entry.term.phrase))
        return out

    def _title_subject(self, per_topic: list[list[tuple[int, str, str]]], n_title: int) -> set[int]:
        """The topic named first in the title is its subject; later ones are often objects
        ("Alibaba's Qwen beats DeepSeek-V3") and get less title weight. Themes always count."""
        first = {
            ti: min(p for p, cls, _ in hits if cls != "context")
            for ti, hits in enumerate(per_topic)
            if any(p < n_title and cls != "context" for p, cls, _ in hits)
        }
        companies = [ti for ti in first if self.schema.topics[ti].id not in _THEMES]
        subject = {ti for ti in first if self.schema.topics[ti].id in _THEMES}
        if companies:
            subject.add(min(companies, key=lambda ti: first[ti]))
        return subject

    def _lead_subject(
        self,
        per_topic: list[list[tuple[int, str, str]]],
        subject: set[int],
        n_title: int,
        wpos: list[float],
    ) -> tuple[int, int] | None:
        """A headline that calls the company an epithet ("Chip giant sheds a sixth of its
        value") names it in the first words of the body: (topic, position) of that company."""
        if any(self.schema.topics[ti].id not in _THEMES for ti in subject):
            return None
        limit = wpos[n_title] + self.settings.lead_subject_words
        first = min(
            (
                (p, ti)
                for ti, hits in enumerate(per_topic)
                if self.schema.topics[ti].id not in _THEMES
                for p, cls, _ in hits
                if cls != "context" and n_title <= p and wpos[p] < limit
            ),
            default=None,
        )
        return None if first is None else (first[1], first[0])

    def _damping(self, topic: Topic, phrase: str, hits: list[tuple[int, int, _Entry]]) -> float:
        # Once "Nikola Tesla" is in the article, a bare "Tesla" elsewhere most likely means him.
        found = {e.term.phrase for _, _, e in hits if e.cls == "not"}
        words = set(phrase.split(" "))
        if any(words <= set(f.split(" ")) for f in found):
            return self.settings.exclude_damping
        return 1.0

    def _credit_cause(
        self,
        norm: list[float],
        in_title: list[bool],
        per_topic: list[list[tuple[int, str, str]]],
        lex_pos: Mapping[str, list[int]],
        wpos: list[float],
        reasons: dict[str, list[str]],
    ) -> None:
        """ "Nvidia's shares slid 17% after DeepSeek said…", "DeepSeek rattled investors": when
        the article is about an AI-stock move, a company named twice or more, once as its cause,
        moved the market and gets its own topic even when it is not the main subject."""
        s = self.settings
        ids = self.schema.ids
        if _MOVES not in ids:
            return
        moves = ids.index(_MOVES)
        needed = -s.scale * math.log(1.0 - s.thresholds.get(_MOVES, s.threshold))
        if norm[moves] < needed:
            return
        cause, links = lex_pos.get(_CAUSE, []), lex_pos.get(_LINK, [])
        move_at = [wpos[p] for p, cls, _ in per_topic[moves] if cls == "names"]

        def linked(p: int) -> bool:
            i = bisect_left(links, bisect_left(wpos, wpos[p] - _LINK_WORDS))
            while i < len(links) and links[i] < p:
                if any(0 <= wpos[links[i]] - m <= _MOVE_WORDS for m in move_at):
                    return True
                i += 1
            return False

        for ti, topic in enumerate(self.schema.topics):
            if topic.id in _THEMES or in_title[ti] or norm[ti] <= 0:
                continue
            named = [(p, phrase) for p, cls, phrase in per_topic[ti] if cls != "context"]
            if len(named) < 2:  # named once, it is an example, not the cause
                continue
            why = next(
                (
                    phrase
                    for p, phrase in named
                    if _near(cause, p, len(phrase.split(" ")), s.near_window, wpos) or linked(p)
                ),
                None,
            )
            if why is not None:
                norm[ti] += s.cause_weight
                in_title[ti] = True  # not a passing mention
                reasons.setdefault(topic.id, []).append(
                    f"cause of the market move: '{show(why)}' next to a word of cause"
                )

    def _damp_passing(
        self, norm: list[float], in_title: list[bool], reasons: dict[str, list[str]]
    ) -> None:
        companies = [i for i, t in enumerate(self.schema.topics) if t.id not in _THEMES]
        leader = max((norm[i] for i in companies), default=0.0)
        floor = self.settings.passing_ratio * leader
        for i in companies:
            if 0 < norm[i] < floor and not in_title[i]:
                norm[i] *= norm[i] / floor
                reasons.setdefault(self.schema.topics[i].id, []).append(
                    "damped: passing mention next to a main subject"
                )

    def _add_similarity(
        self, toks: list[str], norm: list[float], reasons: dict[str, list[str]]
    ) -> None:
        s = self.settings
        vec = self._vector(_content_counts(toks))
        best: dict[str, tuple[float, str]] = {}
        for ex in self._exemplars:
            small, large = (vec, ex.vector) if len(vec) < len(ex.vector) else (ex.vector, vec)
            # The products summed in the same order as a generator would, without one.
            sim = sum(map(mul, small.values(), map(large.get, small, repeat(0.0))))
            for t in ex.topics:
                if sim > best.get(t, (0.0, ""))[0]:
                    best[t] = (sim, ex.title)
        for ti, topic in enumerate(self.schema.topics):
            sim, ex_title = best.get(topic.id, (0.0, ""))
            # Similarity only confirms a topic the text itself names: the seeds are too few
            # (and too much about DeepSeek) to propose topics on their own.
            if sim > s.exemplar_floor and norm[ti] > 0:
                norm[ti] += s.exemplar_weight * (sim - s.exemplar_floor)
                reasons.setdefault(topic.id, []).append(
                    f"similar to seed '{ex_title[:60]}' ({sim:.2f})"
                )


def _by_term(hits: list[tuple[int, str, str]]) -> dict[tuple[str, str], list[int]]:
    grouped: dict[tuple[str, str], list[int]] = {}
    for pos, cls, phrase in hits:
        grouped.setdefault((cls, phrase), []).append(pos)
    return grouped


def _near(positions: list[int], pos: int, length: int, window: int, wpos: list[float]) -> bool:
    """Is a lexicon term within `window` words of the phrase (but not the phrase itself)?"""
    i = bisect_left(positions, bisect_left(wpos, wpos[pos] - window))
    end = wpos[pos + length] + window
    while i < len(positions) and wpos[positions[i]] <= end:
        if not pos <= positions[i] < pos + length:
            return True
        i += 1
    return False


def _content_counts(toks: list[str]) -> Counter[str]:
    return Counter(t for t in toks if len(t) > 2 and t not in _STOPWORDS)
