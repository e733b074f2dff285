"""Topic-tagging quality on the labelled sets in tests/data/: per-topic P/R/F1, micro/macro F1.

Usage: python eval/eval_topics.py [FILE.jsonl ...] [--errors]
Without files: the English and Chinese dev and holdout sets, then a summary table.
A record is {"id", "title", "text", "topics": [...]} plus optional "ai": true for AI news that
has none of our topics; records with no topics and no "ai" flag count as non-AI news.
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from pathlib import Path

from monitor.config.sections import TaggingSettings
from monitor.topics.schema import load_topics
from monitor.topics.tagger import Tagger

ROOT = Path(__file__).resolve().parent.parent
# English dev, English holdout, English holdout phrased in other words (#16), Chinese dev and
# Chinese holdout (traditional characters, mixed Chinese/English, near-misses). The holdouts
# were written and committed before the tagger was tuned for them.
DEFAULT_FILES = [
    ROOT / "tests/data/topics_dev.jsonl",
    ROOT / "tests/data/topics_holdout.jsonl",
    ROOT / "tests/data/topics_holdout_paraphrase.jsonl",
    ROOT / "tests/data/topics_zh_dev.jsonl",
    ROOT / "tests/data/topics_zh_holdout.jsonl",
]


def split_sections(text: str) -> list[tuple[str, str]]:
    """Split a compilation: a headline line, then a short caption line, then the body."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    starts = [
        i
        for i in range(len(lines) - 2)
        if len(lines[i + 1].split()) <= 6
        and not lines[i + 1].endswith(":")
        and len(lines[i + 2].split()) > 12
        and len(lines[i].split()) > 2
        and not lines[i].endswith(".")
    ]
    if not starts or starts[0] != 0:
        return [("", text)]
    bounds = [*starts, len(lines)]
    return [(lines[a], "\n".join(lines[a + 2 : b])) for a, b in itertools.pairwise(bounds)]


def seed_exemplars(seeds: Path) -> list[tuple[str, str]]:
    """Seed articles, and each section of a compilation, as (title, text)."""
    out: list[tuple[str, str]] = []
    for path in sorted(seeds.glob("*.txt")):
        out.extend(split_sections(path.read_text(encoding="utf-8")))
    return out


def evaluate(path: Path, tagger: Tagger, show_errors: bool) -> tuple[float, float, str]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    ids = tagger.schema.ids
    tp = dict.fromkeys(ids, 0)
    fp = dict.fromkeys(ids, 0)
    fn = dict.fromkeys(ids, 0)
    non_ai = tagged_non_ai = 0
    start = time.perf_counter()
    for row in rows:
        got = set(tagger.tag(row["title"], row["text"]).topics)
        want = set(row["topics"])
        for t in ids:
            tp[t] += t in got and t in want
            fp[t] += t in got and t not in want
            fn[t] += t in want and t not in got
        if not want and not row.get("ai", False):
            non_ai += 1
            tagged_non_ai += bool(got)
        if show_errors and got != want:
            print(f"  {row['id']}: missed {sorted(want - got)} extra {sorted(got - want)}")
    elapsed = (time.perf_counter() - start) / max(1, len(rows)) * 1000

    def prf(a: int, b: int, c: int) -> tuple[float, float, float]:
        p = a / (a + b) if a + b else 1.0
        r = a / (a + c) if a + c else 1.0
        return p, r, (2 * p * r / (p + r) if p + r else 0.0)

    print(f"\n{path.name}: {len(rows)} articles, {elapsed:.2f} ms/article")
    print(f"{'topic':20} {'P':>6} {'R':>6} {'F1':>6} {'n':>4}")
    f1s = []
    for t in ids:
        p, r, f = prf(tp[t], fp[t], fn[t])
        f1s.append(f)
        print(f"{t:20} {p:6.3f} {r:6.3f} {f:6.3f} {tp[t] + fn[t]:4d}")
    p, r, f = prf(sum(tp.values()), sum(fp.values()), sum(fn.values()))
    print(f"{'micro':20} {p:6.3f} {r:6.3f} {f:6.3f}")
    print(f"{'macro-F1':20} {sum(f1s) / len(f1s):20.3f}")
    share = tagged_non_ai / non_ai if non_ai else 0.0
    print(f"non-AI articles with any tag: {tagged_non_ai}/{non_ai} ({share:.1%})")
    return f, sum(f1s) / len(f1s), f"{tagged_non_ai}/{non_ai}"


def main(argv: list[str]) -> None:
    show_errors = "--errors" in argv
    files = [Path(a) for a in argv if not a.startswith("--")] or DEFAULT_FILES
    schema = load_topics(ROOT / "seeds/topics.toml")
    tagger = Tagger(schema, TaggingSettings(), seed_exemplars(ROOT / "seeds"))
    summary = [(p.name, *evaluate(p, tagger, show_errors)) for p in files if p.exists()]
    print(f"\n{'set':36} {'micro-F1':>8} {'macro-F1':>8} {'off-topic tagged':>17}")
    for name, micro, macro, off in summary:
        print(f"{name:36} {micro:8.3f} {macro:8.3f} {off:>17}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main(sys.argv[1:])
