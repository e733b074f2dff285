"""Pure comparison of two fingerprinted documents: exact, near copy, same story, or new."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

import numpy as np

from monitor.config.dedup import DedupSettings, english_settings
from monitor.dedup.embed import READS, unpack
from monitor.dedup.features import Features, extract_features
from monitor.dedup.rarity import Corpus

Kind = Literal["exact", "near", "same-story"]
_GENERAL = Corpus()
# Two undated texts whose latest named years are this far apart report different events.
_YEARS_APART = 2


@dataclass(frozen=True)
class DocRef:
    kind: Literal["article", "section"]
    id: int


@dataclass
class Verdict:
    kind: Kind | None
    score: float
    reasons: list[str] = field(default_factory=list)
    of: DocRef | None = None

    @property
    def same_story(self) -> bool:
        return self.kind is not None


@dataclass(frozen=True)
class StoryParts:
    """The three views of "same event" the score combines."""

    lead: float  # cosine of the lead embeddings
    head: float  # cosine of the embeddings of the leads' first word pieces (the headlines)
    event: float  # weighted share of shared names, versions, numbers
    conflict: float  # weighted share of shared keys whose numbers all differ
    shared: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()


def weighted_overlap(a: dict[str, float], b: dict[str, float]) -> float:
    """Weight of the shared terms over that of the smaller set: a short write-up of an
    event that a long article also covers still scores high."""
    shared = sum(min(a[k], b[k]) for k in a.keys() & b.keys())
    smaller = min(sum(a.values()), sum(b.values()))
    return shared / smaller if smaller else 0.0


def containment(a: Features, b: Features) -> float:
    """Share of the smaller document's shingles that the other holds, from MinHash."""
    if not a.shingle_count or not b.shingle_count or len(a.signature) != len(b.signature):
        return 0.0
    same = sum(x == y for x, y in zip(a.signature, b.signature, strict=True))
    return shared_share(same / len(a.signature), a.shingle_count, b.shingle_count)


def shared_share(jaccard: float, a_count: int, b_count: int) -> float:
    """Share of the smaller of two shingle sets (of these sizes) in the other, from their
    Jaccard resemblance: |A ∩ B| = J (|A| + |B|) / (1 + J)."""
    inter = jaccard * (a_count + b_count) / (1.0 + jaccard)
    return min(1.0, inter / min(a_count, b_count))


def days_apart(a: datetime | None, b: datetime | None) -> float | None:
    if a is None or b is None:
        return None
    if (a.tzinfo is None) != (b.tzinfo is None):
        a, b = a.replace(tzinfo=None), b.replace(tzinfo=None)
    return abs((a - b).total_seconds()) / 86400.0


def english(settings: DedupSettings, a: Features, b: Features, event: float) -> bool:
    """Whether the pair is judged by the English embedder: two English texts that share
    at least `english_min_event` of their rare names and numbers (`StoryParts.event`)."""
    return (
        settings.routes_english
        and a.language == "en"
        and b.language == "en"
        and event >= settings.english_min_event
    )


def judge(settings: DedupSettings, a: Features, b: Features, event: float) -> DedupSettings:
    """The settings that judge this pair: the English embedder's (`english_settings`) if
    `english`, else `settings`. Judged settings judge themselves."""
    return english_settings(settings) if english(settings, a, b, event) else settings


def reads(settings: DedupSettings, a: Features, b: Features) -> str | None:
    """None when the embedder reads both texts' languages, else why not. (The English
    embedder judges English pairs only: it reads them.)"""
    known = READS.get(settings.embedder, frozenset())
    unread = sorted({str(f.language) for f in (a, b) if f.language not in known})
    if not unread:
        return None
    languages = "/".join(unread)
    return f"the {settings.embedder} model does not read {languages}: exact and near copies only"


def threshold(settings: DedupSettings, a: Features, b: Features) -> float:
    """Cross-language cosines run lower than those within one language. `settings`: those
    that judge the pair (`judge`)."""
    if a.language == b.language:
        return settings.same_story_threshold
    return settings.cross_language_threshold


def apart_in_time(a: Features, b: Features, settings: DedupSettings) -> str | None:
    """Why the two cannot report one event (None if they can): published further apart
    than the window, or about different years. A document without a date (a seed, a feed
    without dates) is placed by the years its text names: a text naming only 2024 and 2025
    is not a 2026 event, and two undated texts whose latest years lie two or more years
    apart are two stories. Adjacent years are no evidence either way: a December report on
    next year's plan, or one text recalling last year's failure and the other naming this
    year's target (eval/eval_dedup_groups.py: zh-en F1 0.842 -> 0.872, pooled 0.699 -> 0.702, the
    topical stream unchanged)."""
    apart = days_apart(a.published, b.published)
    if apart is not None:
        return f"published {apart:.0f} days apart" if apart > settings.window_days else None
    for dated, other in ((a, b), (b, a)):
        if dated.published is not None and other.years:
            year = dated.published.year
            if max(other.years) < year and max(other.years) not in dated.years:
                return f"published in {year}, the other names no year after {max(other.years)}"
    if a.published is None and b.published is None and a.years and b.years:
        last_a, last_b = max(a.years), max(b.years)
        apart_years = abs(last_a - last_b) >= _YEARS_APART
        if apart_years and last_a not in b.years and last_b not in a.years:
            return f"about {last_a} and {last_b}"
    return None


def lead_similarity(a: Features, b: Features, english: bool = False) -> tuple[float, float]:
    """Cosines of (the leads, their heads); `english`: of their English embedder's vectors."""
    mine, theirs = (a.embedding_en, b.embedding_en) if english else (a.embedding, b.embedding)
    if not mine or len(mine) != len(theirs):
        return 0.0, 0.0
    (lead_a, head_a), (lead_b, head_b) = unpack(mine, 2), unpack(theirs, 2)
    return float(np.dot(lead_a, lead_b)), float(np.dot(head_a, head_b))


def _kind(value: str) -> str:
    """Years are compared only with years: "December 2019" and "December 30" agree."""
    return "year" if value.isdigit() and 1900 <= int(value) <= 2100 else "other"


def _differ(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Both give a value of the same kind for this key, and no value is the same."""
    if set(a) & set(b):
        return False
    return bool({_kind(v) for v in a} & {_kind(v) for v in b})


def story_parts(
    a: Features,
    b: Features,
    corpus: Corpus = _GENERAL,
    counted: tuple[Features, ...] = (),
    vectors: bool = True,
) -> StoryParts:
    """`counted`: those of a and b whose terms are already in the corpus frequencies.
    `vectors`: False leaves the two cosines at 0 (what `ruled_out` bounds without them);
    `judged_parts` gives them for the embedder that judges the pair."""
    events = tuple(f.event for f in counted)
    event_a, event_b = corpus.weigh(a.event, events), corpus.weigh(b.event, events)
    shared = sorted(event_a.keys() & event_b.keys(), key=lambda k: (-event_a[k], k))
    keys = a.specifics.keys() & b.specifics.keys()
    weight = {k: event_a.get(k, event_b.get(k, 1.0)) for k in keys}
    clash = sorted(k for k in keys if _differ(a.specifics[k], b.specifics[k]))
    total = sum(max(w, 1.0) for w in weight.values())
    conflict = sum(max(weight[k], 1.0) for k in clash) / total if total else 0.0
    lead, head = lead_similarity(a, b) if vectors else (0.0, 0.0)
    return StoryParts(
        lead=lead,
        head=head,
        event=weighted_overlap(event_a, event_b),
        conflict=conflict,
        shared=tuple(shared[:8]),
        conflicts=tuple(
            f"{k} {'/'.join(a.specifics[k])} vs {'/'.join(b.specifics[k])}" for k in clash[:4]
        ),
    )


def judged_parts(
    a: Features,
    b: Features,
    settings: DedupSettings,
    corpus: Corpus = _GENERAL,
    counted: tuple[Features, ...] = (),
) -> tuple[StoryParts, DedupSettings]:
    """The parts of the pair with the cosines of the vectors of the embedder that judges it,
    and the settings that judge it: the names and numbers in common decide the embedder."""
    parts = story_parts(a, b, corpus, counted, vectors=False)
    judged = judge(settings, a, b, parts.event)
    lead, head = lead_similarity(a, b, english=judged is not settings)
    return replace(parts, lead=lead, head=head), judged


def story_score(parts: StoryParts, settings: DedupSettings) -> float:
    """A weighted sum: the embeddings say "same subject", shared rare names and numbers
    say "same event", differing specifics say "another event of the same subject"."""
    return (
        settings.weight_lead * parts.lead
        + settings.weight_head * parts.head
        + settings.weight_event * parts.event
        + settings.weight_conflict * parts.conflict
    )


def compare_features(
    a: Features,
    b: Features,
    settings: DedupSettings,
    corpus: Corpus = _GENERAL,
    counted: tuple[Features, ...] = (),
) -> Verdict:
    """`corpus`: document frequencies, in which `counted` (a or b, if any) are included."""
    if a.text_hash == b.text_hash:
        return Verdict("exact", 1.0, ["identical text after normalisation"])
    near = containment(a, b)
    if near >= settings.near_threshold:
        return Verdict("near", round(near, 3), [f"{near:.0%} of the shorter text is shared"])
    unread = reads(settings, a, b)
    if unread is not None:
        return Verdict(None, round(near, 3), [unread])
    parts, judged = judged_parts(a, b, settings, corpus, counted)
    routed, settings = judged is not settings, judged
    score = story_score(parts, settings)
    reasons = [
        f"lead similarity {parts.lead:.2f}, headline similarity {parts.head:.2f}, "
        f"shared names and numbers {parts.event:.2f}, differing specifics {parts.conflict:.2f}"
    ]
    if parts.shared:
        reasons.append("shared: " + ", ".join(parts.shared))
    if parts.conflicts:
        reasons.append("differs: " + "; ".join(parts.conflicts))
    if a.language != b.language:
        reasons.append(f"languages {a.language}/{b.language}")
    if routed:
        reasons.append(f"English pair: read by the {settings.embedder} model")
    vetoed = veto(a, b, parts, settings)
    if vetoed is not None:
        reasons.append(vetoed)
        return Verdict(None, round(score, 3), reasons)
    kind: Kind | None = "same-story" if score >= threshold(settings, a, b) else None
    return Verdict(kind, round(score, 3), reasons)


def veto(a: Features, b: Features, parts: StoryParts, settings: DedupSettings) -> str | None:
    """Why `a` cannot be the same story as the earlier `b` whatever the score (None if it
    can): a language the model does not read, another time, no event term in common, or
    `b` a duplicate itself."""
    settings = judge(settings, a, b, parts.event)
    return (
        reads(settings, a, b)
        or apart_in_time(a, b, settings)
        or (
            "no rare name or number in common: no evidence of one event"
            if parts.event < settings.min_event
            else None
        )
        or (
            "the earlier document is itself a same-story duplicate: compared with its original"
            if b.duplicate
            else None
        )
    )


def ceiling(settings: DedupSettings, a: Features, b: Features) -> float:
    """The highest weighted cosine (lead and head) a pair can still be expected to reach.
    `settings`: those that judge the pair (`judge`)."""
    if a.language == b.language:
        return settings.cosine_ceiling
    return settings.cross_language_cosine_ceiling


def ruled_out(a: Features, b: Features, parts: StoryParts, settings: DedupSettings) -> str | None:
    """Why `a` cannot be the same story as `b` whatever their embeddings say (None if it may
    be): a veto, or a score under the threshold even with the cosines at their ceiling.
    `parts`: `story_parts(..., vectors=False)`. The matcher embeds only the pairs left."""
    settings = judge(settings, a, b, parts.event)
    vetoed = veto(a, b, parts, settings)
    if vetoed is not None:
        return vetoed
    cosines = (settings.weight_lead + settings.weight_head) * ceiling(settings, a, b)
    bound = cosines + story_score(parts, settings)  # the cosines are 0 in `parts`
    if bound < threshold(settings, a, b):
        return (
            f"too little evidence of one event (names and numbers {parts.event:.2f}, "
            f"differing {parts.conflict:.2f}) for any similarity of the leads"
        )
    return None


def compare_texts(
    a_title: str,
    a_text: str,
    b_title: str,
    b_text: str,
    settings: DedupSettings,
    a_published: datetime | None = None,
    b_published: datetime | None = None,
    a_language: str | None = None,
    b_language: str | None = None,
) -> Verdict:
    """Are these two documents the same item, a near copy, or the same story?"""
    a = extract_features(a_title, a_text, settings, a_published, a_language)
    b = extract_features(b_title, b_text, settings, b_published, b_language)
    return compare_features(a, b, settings)
