"""What the polling process pays for the embedding models: CPU seconds to load each (the
English route's lean MiniLM session and mUSE), milliseconds of CPU a lead at batch sizes
1, 2, 4 and 8 (`embed_many` calls of that many leads; MiniLM runs them padded in one
session run, `embed._BATCH` set to each size), and the process's RSS growth after
loading and after the runs of each size (glibc keeps some freed memory: it only grows).
Each model in a fresh process, `--runs` times, medians; the leads are the first 100 words
of English texts of ../shared/eval/semeval-train.csv (generated sentences without it).

    python bench/embedders.py [--runs 3]
    PYTHONPATH=../other-checkout python bench/embedders.py   # another version's code

The first run after a change of the models' files builds the cache folder's derived files
(monitor.dedup.derived): run twice, or read the medians.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
from pathlib import Path

EVAL = Path(__file__).resolve().parent.parent.parent / "shared" / "eval" / "semeval-train.csv"
BATCHES = (1, 2, 4, 8)


def leads(count: int = 16) -> list[str]:
    if EVAL.is_file():
        with EVAL.open(encoding="utf-8", newline="") as file:
            rows = [r for r in csv.DictReader(file) if r["lang1"] == "en"]
        return [" ".join(r["text1"].split()[:110]) for r in rows[:count]]
    sentence = "The company said on Monday that its quarterly revenue rose as demand grew."
    return [" ".join([sentence] * (8 + i % 4)) for i in range(count)]


def measure(kind: str, lean: bool) -> dict[str, float]:
    """In this process: load `kind`, then embed the leads in batches of each size."""
    import time

    from monitor.dedup import embed

    def rss() -> int:
        with open("/proc/self/status") as status:
            line = next(x for x in status if x.startswith("VmRSS"))
        return int(line.split()[1]) // 1024

    texts = leads()
    before = rss()
    start = time.process_time()
    embedder = embed.load_embedder(kind, lean=lean)
    out: dict[str, float] = {"load_cpu_s": time.process_time() - start}
    out["rss_mb_load"] = rss() - before
    embedder.embed_many(texts[:1], 16)  # first run: lazy initialisations
    for size in BATCHES:
        embed._BATCH = size  # type: ignore[attr-defined]  # MiniLM's leads a run (mUSE batches a call itself)
        times = []
        for at in range(0, len(texts), size):
            start = time.process_time()
            embedder.embed_many(texts[at : at + size], 16)
            times.append((time.process_time() - start) / len(texts[at : at + size]))
        out[f"ms_lead_batch_{size}"] = 1000 * statistics.median(times)
        out[f"rss_mb_after_batch_{size}"] = rss() - before
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # kind:lean, in a child process
    args = parser.parse_args()
    if args.one:
        kind, lean = args.one.split(":")
        print(json.dumps(measure(kind, lean == "lean")))
        return
    for kind, lean in (("muse", "full"), ("minilm", "lean"), ("minilm", "full")):
        runs = []
        for _ in range(args.runs):
            done = subprocess.run(
                [sys.executable, __file__, "--one", f"{kind}:{lean}"],
                capture_output=True,
                text=True,
                check=True,
            )
            runs.append(json.loads(done.stdout.splitlines()[-1]))
        medians = {key: round(statistics.median(r[key] for r in runs), 3) for key in runs[0]}
        print(f"{kind} ({lean})", json.dumps(medians))


if __name__ == "__main__":
    main()
