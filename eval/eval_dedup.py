"""`make eval` for dedup: same-story precision, recall, F1 and false-positive rate on the
labelled pairs of ../shared/eval (when present) and the six seed checks.

Usage: python eval/eval_dedup.py [EVAL_DIR]   (or MONITOR_EVAL_DIR; default ../shared/eval)
"""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

from monitor.dedup import DedupSettings, compare_texts
from monitor.dedup.sections import Section, split_sections

ROOT = Path(__file__).resolve().parent.parent
SAME, DIFFERENT = 1.5, 2.5  # `overall` cut-offs of the README of the eval set


def seed_documents(seeds: Path) -> dict[str, Section]:
    """000, 001 as whole documents; the sections of 002 under short names."""
    docs: dict[str, Section] = {}
    for path in sorted(seeds.glob("00[01]_*.txt")):
        docs[path.name[:3]] = Section("", path.read_text(encoding="utf-8"))
    compilation = next(seeds.glob("002_*.txt"))
    for n, section in enumerate(split_sections(compilation.read_text(encoding="utf-8")), 1):
        docs[f"002.{n}"] = section
    return docs


# (a, b, expected same story, what the check is)
SEED_CHECKS = [
    ("000", "001", True, "000 ↔ 001 (same CNBC report)"),
    ("000", "002.1", True, "000 ↔ 002 §1 (open-source AI)"),
    ("001", "002.1", True, "001 ↔ 002 §1"),
    ("002.2", "002.4", False, "002 Baidu launch ↔ Baidu next-gen plan"),
    ("000", "002.5", False, "000 ↔ 002 Musk/Tesla"),
    ("000", "002.7", False, "000 ↔ 002 Nvidia share price"),
]


def run_seed_checks(settings: DedupSettings, seeds: Path) -> int:
    docs = seed_documents(seeds)
    failures = 0
    print(f"{'seed check':44} {'expect':>7} {'got':>11} {'score':>6}")
    for a, b, expected, label in SEED_CHECKS:
        da, db = docs[a], docs[b]
        verdict = compare_texts(da.title, da.text, db.title, db.text, settings)
        ok = verdict.same_story == expected
        failures += not ok
        got = verdict.kind or "new"
        mark = "ok" if ok else "WRONG"
        print(
            f"{label:44} {('same' if expected else 'new'):>7} {got:>11} {verdict.score:6.3f} {mark}"
        )
    return failures


def run_pairs(settings: DedupSettings, path: Path) -> None:
    tp = fp = fn = tn = related = related_same = 0
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            overall = float(row["overall"])
            same = compare_texts("", row["text1"], "", row["text2"], settings).same_story
            if overall <= SAME:
                tp, fn = tp + same, fn + (not same)
            elif overall >= DIFFERENT:
                fp, tn = fp + same, tn + (not same)
            else:
                related, related_same = related + 1, related_same + same
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    print(f"pairs: {path}")
    print(f"{'same-story pairs':24} {tp + fn:5d}   {'different pairs':18} {fp + tn:5d}")
    print(f"{'precision':24} {precision:5.3f}   {'recall':18} {recall:5.3f}")
    print(f"{'F1':24} {f1:5.3f}   {'false-positive rate':18} {fp / max(1, fp + tn):5.3f}")
    print(f"{'TP / FP / FN / TN':24} {tp} / {fp} / {fn} / {tn}")
    print(f"{'related pairs called same':24} {related_same} of {related}")


def main(argv: list[str]) -> int:
    settings = DedupSettings()
    default = ROOT.parent / "shared" / "eval"
    eval_dir = Path(argv[1] if len(argv) > 1 else os.environ.get("MONITOR_EVAL_DIR", default))
    pairs = eval_dir / "semeval-en-dev.csv"
    if pairs.exists():
        run_pairs(settings, pairs)
    else:
        print(f"labelled pairs skipped: {pairs} not found (set MONITOR_EVAL_DIR)")
    print()
    failures = run_seed_checks(settings, ROOT / "seeds")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
