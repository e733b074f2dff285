"""Pure comparison of two fingerprinted documents: exact, near copy, same story, or new."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from monitor.dedup.features import Features, extract_features
from monitor.dedup.settings import DedupSettings

Kind = Literal["exact", "near", "same-story"]


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


def cosine(a: dict[str, float], b: dict[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    dot = sum(v * b.get(k, 0.0) for k, v in a.items())
    norm = math.sqrt(sum(v * v for v in a.values())) * math.sqrt(sum(v * v for v in b.values()))
    return dot / norm if norm else 0.0


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
    jaccard = same / len(a.signature)
    # |A ∩ B| = J (|A| + |B|) / (1 + J); divided by the smaller set.
    inter = jaccard * (a.shingle_count + b.shingle_count) / (1.0 + jaccard)
    return min(1.0, inter / min(a.shingle_count, b.shingle_count))


def days_apart(a: datetime | None, b: datetime | None) -> float | None:
    if a is None or b is None:
        return None
    if (a.tzinfo is None) != (b.tzinfo is None):
        a, b = a.replace(tzinfo=None), b.replace(tzinfo=None)
    return abs((a - b).total_seconds()) / 86400.0


def story_parts(a: Features, b: Features) -> tuple[float, float, float]:
    """(body, lead, event): similarity of the whole text, of title + first words, and of
    the rare names, numbers and versions each text mentions."""
    return cosine(a.body, b.body), cosine(a.lead, b.lead), weighted_overlap(a.event, b.event)


def _shared_terms(a: Features, b: Features, limit: int = 8) -> list[str]:
    shared = sorted(a.event.keys() & b.event.keys(), key=lambda k: (-a.event[k], k))
    return shared[:limit]


def compare_features(a: Features, b: Features, settings: DedupSettings) -> Verdict:
    if a.text_hash == b.text_hash:
        return Verdict("exact", 1.0, ["identical text after normalisation"])
    apart = days_apart(a.published, b.published)
    near = containment(a, b)
    if near >= settings.near_threshold:
        return Verdict("near", round(near, 3), [f"{near:.0%} of the shorter text is shared"])
    body, lead, event = story_parts(a, b)
    # Equal weights: three views of one event, none trusted alone (see eval/eval_dedup.py).
    score = (body + lead + event) / 3.0
    reasons = [f"text similarity {body:.2f}, title/lead {lead:.2f}, names and numbers {event:.2f}"]
    shared = _shared_terms(a, b)
    if shared:
        reasons.append("shared: " + ", ".join(shared))
    if apart is not None and apart > settings.window_days:
        reasons.append(f"published {apart:.0f} days apart")
        return Verdict(None, round(score, 3), reasons)
    kind: Kind | None = "same-story" if score >= settings.same_story_threshold else None
    return Verdict(kind, round(score, 3), reasons)


def compare_texts(
    a_title: str,
    a_text: str,
    b_title: str,
    b_text: str,
    settings: DedupSettings,
    a_published: datetime | None = None,
    b_published: datetime | None = None,
) -> Verdict:
    """Are these two documents the same item, a near copy, or the same story?"""
    a = extract_features(a_title, a_text, settings, a_published)
    b = extract_features(b_title, b_text, settings, b_published)
    return compare_features(a, b, settings)
