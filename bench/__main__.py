"""`make bench`: every benchmark, a table on stdout, the figures in bench/results.json.

Usage: python -m bench [SECTION ...]
  (sections: e2e feeds memory memory-static scale tag digest workers; and, only when named,
  soak (312 daemon cycles, about 6 minutes) and one-host (500 pages on one host at the
  default politeness, about 9 minutes))
"""

from __future__ import annotations

import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import pipeline

RESULTS = Path(__file__).resolve().parent / "results.json"
LONG = ("soak", "one-host")  # minutes each: run only when named


def _sections() -> dict[str, Callable[[], dict[str, Any]]]:
    sections: dict[str, Callable[[], dict[str, Any]]] = {
        "e2e": pipeline.end_to_end,
        "feeds": pipeline.many_feeds,
        "memory": pipeline.memory,
        # The extraction processes' memory with dedup.embedder = "static" (2,000 articles).
        "memory-static": lambda: pipeline.memory(2000, embedder="static"),
    }
    try:
        from bench import scale

        sections["scale"] = scale.dedup_and_tag
        sections["tag"] = scale.tagging
    except ImportError:
        pass
    from bench import bench_digest

    sections["digest"] = bench_digest.run
    from bench import workers

    sections["workers"] = workers.throughput
    from bench import soak

    sections["soak"] = soak.run
    from bench import onehost

    sections["one-host"] = onehost.run
    return sections


def main(argv: list[str]) -> None:
    sections = _sections()
    chosen = argv or [name for name in sections if name not in LONG]
    results: dict[str, Any] = {
        "machine": platform.platform(),
        "python": platform.python_version(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if RESULTS.exists():
        results = {**json.loads(RESULTS.read_text()), **results}
    for name in chosen:
        print(f"== {name}", flush=True)
        start = time.perf_counter()
        figures = sections[name]()
        figures["bench_seconds"] = round(time.perf_counter() - start, 1)
        results[name] = figures
        for key, value in figures.items():
            print(f"   {key:<34} {value}")
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(f"figures written to {RESULTS}")


if __name__ == "__main__":
    main(sys.argv[1:])
