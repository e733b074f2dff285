"""Story-level dedup: exact text, near copies (MinHash), same story (rare-term index)."""

from monitor.dedup.index import DedupIndex
from monitor.dedup.score import DocRef, Verdict, compare_features, compare_texts
from monitor.dedup.settings import DedupSettings

__all__ = ["DedupIndex", "DedupSettings", "DocRef", "Verdict", "compare_features", "compare_texts"]
