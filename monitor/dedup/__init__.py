"""Story-level dedup: exact text, near copies (MinHash), same story (lead embeddings and
rare names and numbers).

The names are loaded on first use: `monitor.config` needs only `DedupSettings`, and
commands such as `status` should not pay for the matching libraries.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitor.dedup.index import DedupIndex
    from monitor.dedup.score import DocRef, Verdict, compare_features, compare_texts
    from monitor.dedup.settings import DedupSettings

_WHERE = {
    "DedupIndex": "monitor.dedup.index",
    "DocRef": "monitor.dedup.score",
    "Verdict": "monitor.dedup.score",
    "compare_features": "monitor.dedup.score",
    "compare_texts": "monitor.dedup.score",
    "DedupSettings": "monitor.dedup.settings",
}

__all__ = ["DedupIndex", "DedupSettings", "DocRef", "Verdict", "compare_features", "compare_texts"]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'monitor.dedup' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
