"""`make eval` for dedup across languages: same-story precision, recall, F1 and false-positive
rate per language group (en-en, zh-zh, zh-en, other same-language, other cross-language and
all pooled), cross-validated on ../shared/eval/semeval-train.csv, and the topical streams of
eval/data/topical.jsonl (English and Chinese) and eval/data/topical-de-es.jsonl (German and
Spanish): same-topic news labelled with event ids.

Usage: python eval/eval_dedup_groups.py [EVAL_DIR] [--set NAME=VALUE ...] [--fit]

Cross-validation: stratified 5-fold (by group and label), 10 shuffles; inside each training
split the two thresholds (same language, cross-language) are refit for the best F1 with a
false-positive rate <= 3% there, and the held-out fifth is scored. A pair the settings veto
(a language the model does not read, different years, no event term in common) is "new"
whatever its score. The corpus (document frequencies) is every text of the file, each
pair's own two texts left out, as the index would count them.

Topical stream: each item is matched against the earlier ones in file order as the index
would (the best same-story candidate, comparing only with originals), with the shipped
settings; figures for the development part and the holdout part (never tuned on). Then the
pairs of items of different events that are called the same story on their own (the order of
the stream can hide such a link behind a better match; another day's order would not).

The cascade (`score.ruled_out`, what the index does before it embeds anything): for each
group, the pairs whose verdict needed the model (not an exact or near copy, and not ruled out
by the vetoes and the score with the cosines at their ceiling), the verdicts that differ from
the full model's at the shipped thresholds, and F1/FPR with and without it; for the stream,
the items and pairs that needed the model and whether any link changed.
"""

from __future__ import annotations

import csv
import json
import os
import pickle
import sys
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import eval_dedup
import numpy as np

from monitor.config.dedup import DedupSettings, english_settings
from monitor.dedup.features import Features, extract_features
from monitor.dedup.rarity import Corpus
from monitor.dedup.score import (
    StoryParts,
    compare_features,
    containment,
    judge,
    judged_parts,
    ruled_out,
    story_parts,
    story_score,
    veto,
)

ROOT = Path(__file__).resolve().parent.parent
SAME, DIFFERENT = 1.5, 2.5
MAX_FPR = 0.03
GROUPS = ("en-en", "zh-zh", "zh-en", "other same-language", "other cross-language")
TOPICAL = ROOT / "eval" / "data" / "topical.jsonl"
# The same kind of day in German and Spanish (the "other" languages, which mUSE judges).
TOPICAL_OTHER = ROOT / "eval" / "data" / "topical-de-es.jsonl"


@dataclass
class Pair:
    group: str
    cross: bool
    same: bool
    parts: StoryParts
    a: Features
    b: Features


def group_of(l1: str, l2: str) -> str:
    pair = "-".join(sorted((l1, l2), key=lambda code: (code != "zh", code)))
    if pair in ("en-en", "zh-zh", "zh-en"):
        return pair
    return "other same-language" if l1 == l2 else "other cross-language"


def corpus_of(features: list[Features], settings: DedupSettings) -> Corpus:
    df: Counter[str] = Counter()
    for f in features:
        df.update(f.event.keys())
    return Corpus(len(features), dict(df), settings.corpus_prior_docs)


def load_pairs(path: Path, settings: DedupSettings) -> list[Pair]:
    rows = [
        r
        for r in csv.DictReader(path.open(encoding="utf-8", newline=""))
        if float(r["overall"]) <= SAME or float(r["overall"]) >= DIFFERENT
    ]
    feats = cached_features(path, rows, settings)
    corpus = corpus_of([f for pair in feats for f in pair], settings)
    return [
        Pair(
            group_of(r["lang1"], r["lang2"]),
            r["lang1"] != r["lang2"],
            float(r["overall"]) <= SAME,
            judged_parts(a, b, settings, corpus, (a, b))[0],
            a,
            b,
        )
        for r, (a, b) in zip(rows, feats, strict=True)
    ]


def cached_features(
    path: Path, rows: list[dict[str, str]], settings: DedupSettings
) -> list[tuple[Features, Features]]:
    """The features of every pair, kept in $MONITOR_EVAL_CACHE (if set) between runs that
    change only scoring settings (embedding 2,000 texts takes minutes). With English pairs
    routed to another embedder, English texts get that embedder's vectors too."""
    feats = _cached_features(path, rows, settings)
    if not settings.routes_english:
        return feats
    routed = _cached_features(path, rows, english_settings(settings))
    return [
        tuple(  # type: ignore[misc]
            replace(f, embedding_en=g.embedding if f.language == "en" else b"")
            for f, g in zip(pair, other, strict=True)
        )
        for pair, other in zip(feats, routed, strict=True)
    ]


def _cached_features(
    path: Path, rows: list[dict[str, str]], settings: DedupSettings
) -> list[tuple[Features, Features]]:
    folder = os.environ.get("MONITOR_EVAL_CACHE")
    key = (
        f"{path.stem}-{settings.embedder}-{settings.lead_words}-{settings.head_tokens}-"
        f"{settings.rare_rarity}-{settings.event_terms}.pickle"
    )
    if folder and (Path(folder) / key).exists():
        with (Path(folder) / key).open("rb") as file:
            cached: list[tuple[Features, Features]] = pickle.load(file)
            return cached
    feats = [
        (extract_features("", r["text1"], settings), extract_features("", r["text2"], settings))
        for r in rows
    ]
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        with (Path(folder) / key).open("wb") as file:
            pickle.dump(feats, file)
    return feats


def pair_scores(pairs: list[Pair], settings: DedupSettings) -> np.ndarray:
    """The margin of each pair over the threshold of the settings that judge it (English
    pairs may be judged by another embedder, on another scale), -inf where they veto a
    same-story verdict. A refit threshold is an offset on these margins."""
    out = []
    for p in pairs:
        judged = judge(settings, p.a, p.b, p.parts.event)
        if veto(p.a, p.b, p.parts, settings):
            out.append(-np.inf)
            continue
        cut = judged.cross_language_threshold if p.cross else judged.same_story_threshold
        out.append(story_score(p.parts, judged) - cut)
    return np.asarray(out)


def copies(a: Features, b: Features, settings: DedupSettings) -> bool:
    """An exact or near copy: the index's verdict needs no vector."""
    return a.text_hash == b.text_hash or containment(a, b) >= settings.near_threshold


def cascade_passes(pairs: list[Pair], settings: DedupSettings) -> tuple[np.ndarray, np.ndarray]:
    """(passes, needed): the pairs the cheap layer leaves to the full score (or copies), and
    those of them whose verdict needed the model."""
    copy = np.asarray([copies(p.a, p.b, settings) for p in pairs], dtype=bool)
    left = np.asarray(
        [
            ruled_out(p.a, p.b, replace(p.parts, lead=0.0, head=0.0), settings) is None
            for p in pairs
        ],
        dtype=bool,
    )
    return copy | left, ~copy & left


def print_cascade(
    pairs: list[Pair], settings: DedupSettings, shipped: np.ndarray, predictions: np.ndarray
) -> None:
    same = np.asarray([p.same for p in pairs])
    groups = np.asarray([p.group for p in pairs])
    passes, needed = cascade_passes(pairs, settings)
    cascade = shipped & passes
    print(
        f"cascade (cosine ceilings {settings.cosine_ceiling} same language, "
        f"{settings.cross_language_cosine_ceiling} cross-language):"
    )
    print(
        f"{'group':22} {'pairs':>5} {'needed model':>13} {'verdicts changed':>17} "
        f"{'F1/FPR full':>12} {'cascade':>12} {'CV F1/FPR full':>15} {'cascade':>12}"
    )
    for group in (*GROUPS, "all pooled"):
        member = groups == group if group != "all pooled" else np.ones(len(pairs), dtype=bool)
        n = int(member.sum())
        if not n:
            continue
        changed = int((cascade[member] != shipped[member]).sum())
        full_in = rates(shipped[member], same[member])
        casc_in = rates(cascade[member], same[member])
        full_cv = np.asarray([rates(p[member], same[member]) for p in predictions]).mean(axis=0)
        casc_cv = np.asarray(
            [rates(p[member] & passes[member], same[member]) for p in predictions]
        ).mean(axis=0)
        print(
            f"{group:22} {n:5d} {int(needed[member].sum()):5d} ({needed[member].mean():5.1%}) "
            f"{changed:17d} {full_in[2]:6.3f}/{full_in[3]:.3f} {casc_in[2]:6.3f}/{casc_in[3]:.3f} "
            f"{full_cv[2]:9.3f}/{full_cv[3]:.3f} {casc_cv[2]:6.3f}/{casc_cv[3]:.3f}"
        )


def rates(pred: np.ndarray, same: np.ndarray) -> tuple[float, float, float, float]:
    """(precision, recall, F1, false-positive rate): eval_dedup's counts, in table order."""
    f1, fpr, precision, recall = eval_dedup.rates(pred, same)
    return precision, recall, f1, fpr


def best_threshold(s: np.ndarray, same: np.ndarray) -> float:
    """The threshold of the best F1 with FPR <= MAX_FPR (halfway between finite scores)."""
    u = np.unique(s[np.isfinite(s)])
    if not len(u):
        return np.inf
    best = (-1.0, float(u[-1]) + 1e-6)
    for t in np.r_[u[0] - 1e-9, (u[1:] + u[:-1]) / 2]:
        _, _, f1, fpr = rates(s >= t, same)
        if fpr <= MAX_FPR and f1 > best[0]:
            best = (f1, float(t))
    return best[1]


def thresholds(s: np.ndarray, same: np.ndarray, cross: np.ndarray) -> tuple[float, float]:
    return best_threshold(s[~cross], same[~cross]), best_threshold(s[cross], same[cross])


def predict(s: np.ndarray, cross: np.ndarray, same_t: float, cross_t: float) -> np.ndarray:
    return s >= np.where(cross, cross_t, same_t)


def cross_validate(pairs: list[Pair], settings: DedupSettings, repeats: int = 10) -> np.ndarray:
    """Predictions of each shuffle (repeats x pairs), thresholds refit inside each fold."""
    s = pair_scores(pairs, settings)
    same = np.asarray([p.same for p in pairs])
    cross = np.asarray([p.cross for p in pairs])
    strata = np.asarray([f"{p.group}/{p.same}" for p in pairs])
    out = np.zeros((repeats, len(pairs)), dtype=bool)
    for repeat in range(repeats):
        rng = np.random.default_rng(repeat)
        fold = np.zeros(len(pairs), dtype=int)
        for stratum in np.unique(strata):
            members = rng.permutation(np.flatnonzero(strata == stratum))
            fold[members] = np.arange(len(members)) % 5
        for k in range(5):
            test, train = fold == k, fold != k
            same_t, cross_t = thresholds(s[train], same[train], cross[train])
            out[repeat, test] = predict(s[test], cross[test], same_t, cross_t)
    return out


def auc(s: np.ndarray, same: np.ndarray) -> float:
    pos, neg = s[same], s[~same]
    if not len(pos) or not len(neg):
        return float("nan")
    pos, neg = np.where(np.isfinite(pos), pos, -9), np.where(np.isfinite(neg), neg, -9)
    return float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())


def run_pairs(path: Path, settings: DedupSettings, refit: bool) -> None:
    pairs = load_pairs(path, settings)
    same = np.asarray([p.same for p in pairs])
    cross = np.asarray([p.cross for p in pairs])
    groups = np.asarray([p.group for p in pairs])
    s = pair_scores(pairs, settings)
    predictions = cross_validate(pairs, settings)
    routed = f", English pairs {settings.english_embedder}" if settings.routes_english else ""
    print(f"pairs: {path} ({len(pairs)} labelled, embedder {settings.embedder}{routed})")
    print(
        f"{'group':22} {'same':>5} {'diff':>5} {'AUC':>6} {'prec':>6} {'recall':>6} {'F1':>6} "
        f"{'FPR':>6}   in-sample F1/FPR (shipped thresholds)"
    )
    shipped = predict(s, cross, 0.0, 0.0)
    for group in (*GROUPS, "all pooled"):
        member = groups == group if group != "all pooled" else np.ones(len(pairs), dtype=bool)
        figures = np.asarray([rates(p[member], same[member]) for p in predictions]).mean(axis=0)
        _, _, f1_in, fpr_in = rates(shipped[member], same[member])
        print(
            f"{group:22} {int(same[member].sum()):5d} {int((~same[member]).sum()):5d} "
            f"{auc(s[member], same[member]):6.3f} {figures[0]:6.3f} {figures[1]:6.3f} "
            f"{figures[2]:6.3f} {figures[3]:6.3f}   {f1_in:.3f}/{fpr_in:.3f}"
        )
    if refit:
        same_t, cross_t = thresholds(s, same, cross)
        print(
            "fit on all pairs: same_story_threshold "
            f"{settings.same_story_threshold + same_t:.3f}, cross "
            f"{settings.cross_language_threshold + cross_t:.3f} (English pairs routed: "
            f"offset {same_t:+.3f} on their threshold)"
        )
    print()
    print_cascade(pairs, settings, shipped, predictions)


@dataclass
class Item:
    id: str
    event: str
    split: str
    features: Features


def load_stream(path: Path, settings: DedupSettings) -> list[Item]:
    items = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        published = datetime.fromisoformat(record["published"]) if record.get("published") else None
        items.append(
            Item(
                record["id"],
                record["event"],
                record["split"],
                extract_features(record["title"], record["text"], settings, published),
            )
        )
    return items


def run_stream(
    items: list[Item], settings: DedupSettings, dated: bool = True, cascade: bool = False
) -> dict[str, Any]:
    """Each item against the earlier ones in order, as the index would match it: the best
    same-story candidate among the originals (documents not linked themselves). `cascade`:
    candidates `ruled_out` without their vectors are skipped, as the index skips them."""
    if not dated:
        items = [replace(i, features=replace(i.features, published=None)) for i in items]
    corpus = corpus_of([i.features for i in items], settings)
    linked: dict[str, str] = {}  # item -> the original it was linked to
    hidden_wrong = linked_right = needed_items = needed_pairs = 0
    for n, item in enumerate(items):
        best: tuple[float, Item] | None = None
        needed = False
        for earlier in items[:n]:
            candidate = replace(earlier.features, duplicate=earlier.id in linked)
            if cascade and not copies(item.features, candidate, settings):
                counted = (item.features, candidate)
                parts = story_parts(item.features, candidate, corpus, counted, vectors=False)
                if ruled_out(item.features, candidate, parts, settings) is not None:
                    continue
                needed = True
                needed_pairs += 1
            verdict = compare_features(
                item.features, candidate, settings, corpus, (item.features, candidate)
            )
            if verdict.kind is not None and (best is None or verdict.score > best[0]):
                best = (verdict.score, earlier)
        needed_items += needed
        if best is not None:
            linked[item.id] = best[1].id
            if best[1].event == item.event:
                linked_right += 1
            else:
                hidden_wrong += 1
    events = Counter(i.event for i in items)
    linkable = sum(c - 1 for c in events.values())  # write-ups after an event's first
    # A write-up counts as linked when it points at an earlier item of its own event.
    return {
        "items": len(items),
        "hidden_wrong": hidden_wrong,
        "hidden_wrong_share": hidden_wrong / len(items),
        "linked_right": linked_right,
        "linkable": linkable,
        "linked_share": linked_right / linkable if linkable else 1.0,
        "links": linked,
        "needed_items": needed_items,
        "needed_pairs": needed_pairs,
        "pairs": len(items) * (len(items) - 1) // 2,
    }


def other_event_pairs(
    items: list[Item], settings: DedupSettings, dated: bool = True
) -> list[tuple[str, str]]:
    """Every pair of items of different events that is called the same story on its own,
    whatever else the stream holds: the links the stream's order happened to hide (a
    better match came first), which another day's order would show."""
    if not dated:
        items = [replace(i, features=replace(i.features, published=None)) for i in items]
    corpus = corpus_of([i.features for i in items], settings)
    found = []
    for n, item in enumerate(items):
        for earlier in items[:n]:
            if item.event == earlier.event:
                continue
            pair = (item.features, earlier.features)
            if compare_features(*pair, settings, corpus, pair).kind is not None:
                found.append((item.id, earlier.id))
    return found


def print_stream(path: Path, settings: DedupSettings) -> None:
    items = load_stream(path, settings)
    print(f"topical stream: {path.relative_to(ROOT)} ({len(items)} items)")
    print(f"{'part':30} {'items':>5} {'hidden as another event':>24} {'same-event linked':>18}")
    for label, part, dated in (
        ("development", "dev", True),
        ("holdout", "holdout", True),
        ("holdout, dates removed", "holdout", False),
        ("all", None, True),
    ):
        chosen = [i for i in items if part is None or i.split == part]
        if not chosen or (part is None and len({i.split for i in items}) == 1):
            continue  # a part the file does not have, or "all" of a file of one part
        r = run_stream(chosen, settings, dated)
        print(
            f"{label:30} {r['items']:5d} {r['hidden_wrong']:>10d} ({r['hidden_wrong_share']:5.1%})"
            f"      {r['linked_right']:>5d}/{r['linkable']:<3d} ({r['linked_share']:5.1%})"
        )
        c = run_stream(chosen, settings, dated, cascade=True)
        changed = sum(c["links"].get(k) != v for k, v in r["links"].items()) + sum(
            k not in r["links"] for k in c["links"]
        )
        print(
            f"{'  cascade':30} {c['items']:5d} {c['hidden_wrong']:>10d} "
            f"({c['hidden_wrong_share']:5.1%})      {c['linked_right']:>5d}/{c['linkable']:<3d} "
            f"({c['linked_share']:5.1%})   links changed {changed}; needed the model: "
            f"{c['needed_items']}/{c['items']} items, {c['needed_pairs']}/{c['pairs']} pairs"
        )
    for dated in (True, False):
        pairs = other_event_pairs(items, settings, dated)
        events = Counter(i.event for i in items)
        total = len(items) * (len(items) - 1) // 2 - sum(c * (c - 1) // 2 for c in events.values())
        print(
            f"pairs of different events called the same story on their own"
            f"{'' if dated else ' (dates removed)'}: {len(pairs)} of {total}"
            + (": " + ", ".join(f"{a} <- {b}" for a, b in pairs) if pairs else "")
        )


def main(argv: list[str]) -> int:
    from eval_dedup import with_overrides

    settings = with_overrides(DedupSettings(), argv)
    argv = [a for i, a in enumerate(argv) if a != "--set" and argv[i - 1 : i] != ["--set"]]
    args = [a for a in argv[1:] if not a.startswith("--")]
    eval_dir = Path(args[0]) if args else ROOT.parent / "shared" / "eval"
    path = eval_dir / "semeval-train.csv"
    if path.exists():
        run_pairs(path, settings, "--fit" in argv)
    else:
        print(f"language groups skipped: {path} not found")
    for stream in (TOPICAL, TOPICAL_OTHER):
        print()
        print_stream(stream, settings)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main(sys.argv))
