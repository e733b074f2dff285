"""Story-level dedup: exact text, near copies (MinHash), same story (lead embeddings and
rare names and numbers).

A pure stage: texts and fingerprints in, verdicts out. The persistent index that retrieves
candidates lives in `monitor.store.dedup_index`. Imports `config`, `errors` and
`cachedir` (its word tables) only.

The names are loaded on first use: commands such as `status` should not pay for the
matching libraries.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitor.dedup.score import DocRef, Verdict, compare_features, compare_texts

_WHERE = {
    "DocRef": "monitor.dedup.score",
    "Verdict": "monitor.dedup.score",
    "compare_features": "monitor.dedup.score",
    "compare_texts": "monitor.dedup.score",
}

__all__ = ["DocRef", "Verdict", "compare_features", "compare_texts"]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'monitor.dedup' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
