"""monitor: a scheduled news-monitoring pipeline (feeds, articles, dedup, topics, digest)."""

__version__ = "0.1.0"
