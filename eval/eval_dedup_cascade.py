"""The cascade measured before it is built: English pairs whose multilingual (mUSE) score
lies within BAND of its threshold are decided by MiniLM's score instead (both leads embedded
with MiniLM, the names and numbers as they are); every other pair keeps the mUSE verdict.

Usage: python eval/eval_dedup_cascade.py [EVAL_DIR] [BAND ...]

Same pairs, folds and threshold refits as eval/eval_dedup_groups.py: each verdict becomes a
margin (score - its model's shipped threshold) and the folds refit one offset on it. Prints
per band the F1 / FPR of each group and the share of English pairs, and of the texts in
English pairs, that needed MiniLM. Set MONITOR_EVAL_CACHE to keep the features between runs.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from eval_dedup_groups import (
    GROUPS,
    ROOT,
    Pair,
    cross_validate,
    load_pairs,
    pair_scores,
    rates,
)

from monitor.config.dedup import DedupSettings, tuned_for
from monitor.dedup.score import story_score


def margins(
    pairs: list[Pair], minilm: list[Pair], muse_s: DedupSettings, mini_s: DedupSettings, band: float
) -> tuple[np.ndarray, np.ndarray]:
    """(the cascade's margin of each pair, which pairs needed MiniLM)."""
    s = pair_scores(pairs, muse_s)
    threshold = np.where(
        [p.cross for p in pairs], muse_s.cross_language_threshold, muse_s.same_story_threshold
    )
    out = s - threshold
    asked = np.zeros(len(pairs), dtype=bool)
    for i, (p, q) in enumerate(zip(pairs, minilm, strict=True)):
        if p.group == "en-en" and np.isfinite(s[i]) and abs(out[i]) <= band:
            parts = replace(p.parts, lead=q.parts.lead, head=q.parts.head)
            out[i] = story_score(parts, mini_s) - mini_s.same_story_threshold
            asked[i] = True
    return out, asked


def main(argv: list[str]) -> int:
    args = argv[1:]
    eval_dir = Path(args[0]) if args and not _number(args[0]) else ROOT.parent / "shared" / "eval"
    bands = [float(a) for a in args if _number(a)] or [0.0, 0.05, 0.1, 0.15, 0.2, 1.0]
    path = eval_dir / "semeval-train.csv"
    muse_s = DedupSettings()
    mini_s = replace(DedupSettings(), **{**tuned_for("minilm"), "embedder": "minilm"})
    pairs, minilm = load_pairs(path, muse_s), load_pairs(path, mini_s)
    same = np.asarray([p.same for p in pairs])
    groups = np.asarray([p.group for p in pairs])
    english = groups == "en-en"
    print(f"pairs: {path} ({len(pairs)} labelled; en-en {int(english.sum())})")
    print(f"{'band':>5} " + " ".join(f"{g[:12]:>12}" for g in (*GROUPS, "pooled")) + "  MiniLM")
    for band in bands:
        m, asked = margins(pairs, minilm, muse_s, mini_s, band)
        # cross_validate refits thresholds on scores: give it the margins as the scores.
        predictions = _cross_validate_margins(pairs, m)
        cells = []
        for group in (*GROUPS, "pooled"):
            member = groups == group if group != "pooled" else np.ones(len(pairs), dtype=bool)
            f = np.asarray([rates(p[member], same[member]) for p in predictions]).mean(axis=0)
            cells.append(f"{f[2]:.3f}/{f[3]:.3f}")
        texts = {id(x) for p, a in zip(pairs, asked, strict=True) if a for x in (p.a, p.b)}
        all_texts = {id(x) for p, e in zip(pairs, english, strict=True) if e for x in (p.a, p.b)}
        print(
            f"{band:5.2f} "
            + " ".join(f"{c:>12}" for c in cells)
            + f"  {asked[english].mean():.0%} of pairs, {len(texts) / len(all_texts):.0%} of texts"
        )
    return 0


def _cross_validate_margins(pairs: list[Pair], m: np.ndarray) -> np.ndarray:
    import eval_dedup_groups

    original = eval_dedup_groups.pair_scores
    eval_dedup_groups.pair_scores = lambda _pairs, _settings: m
    try:
        return cross_validate(pairs, DedupSettings())
    finally:
        eval_dedup_groups.pair_scores = original


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main(sys.argv))
