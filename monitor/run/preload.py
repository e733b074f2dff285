"""Imported only by the extraction processes' fork server (`process.PRELOAD`, last): with
the dedup settings the poller named in the environment (`process.forkserver_preload`), loads
the English word frequencies and the language identifier once, so that every process forked
from the server shares them (copy-on-write) instead of spending CPU and memory loading them.
The embedder is not loaded: the extraction processes never embed (the matcher in the polling
process embeds the leads a verdict needs, `store.dedup_index`). jieba's Chinese dictionary
(1.3 s, 80 MB) is left to the first process that meets a Chinese character: most runs never do.

The fork server starts with the first extraction process, so a cycle of unchanged feeds
still loads nothing."""

from __future__ import annotations

import gc
import os
from dataclasses import replace

from monitor.config.dedup import DedupSettings
from monitor.run.process import PRELOAD_ENV


def preload(spec: str) -> None:
    """Warm the fingerprints on English with the settings `spec` names.

    Never raises: the fork server dies on any error but an ImportError, and a process that
    misses the preload loads its own word lists."""
    try:
        kind, threads, model_dir = spec.split(":", 2)
        # One BLAS thread in every forked process: the pool already has one process a core.
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

        threadpool_limits(int(threads))
        from monitor.dedup.features import extract_features

        dedup = replace(
            DedupSettings(), embedder=kind, model_dir=model_dir, model_threads=int(threads)
        )
        extract_features("Warm-up", "Loads the models once.", dedup, embed=False)
    except Exception:  # see the docstring
        pass


if os.environ.get(PRELOAD_ENV):
    preload(os.environ[PRELOAD_ENV])
    # Out of the collector's reach: a collection in a forked process would write to every
    # object it visits (the word frequencies, the models), unsharing their pages.
    gc.freeze()
