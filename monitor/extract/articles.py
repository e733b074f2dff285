"""What an extraction process hands to the writer: an article before it is stored (no
database imports here, so that the extraction processes never load SQLAlchemy)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class NewArticle:
    """Everything known about an article before it is stored."""

    feed_id: int
    guid: str
    url: str
    canonical_url: str
    title: str
    author: str | None
    published: datetime | None
    site_name: str | None
    language: str | None
    summary: str
    text: str
    extraction: str
    status: str
    error: str | None = None
