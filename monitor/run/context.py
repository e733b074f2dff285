"""What every command needs, built lazily: settings, engine, tagger (one per process)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from monitor.config.load import Settings, load_settings
from monitor.store.db import check_schema, make_engine
from monitor.store.models import SeedSection
from monitor.topics.schema import TopicSchema, load_topics
from monitor.topics.tagger import Tagger


class AppContext:
    def __init__(self, config: Path | None) -> None:
        self.config = config
        self._engine: Engine | None = None

    @cached_property
    def settings(self) -> Settings:
        return load_settings(self.config)

    def engine(self, *, check: bool = True) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.settings.database_url)
        if check:
            check_schema(self._engine)
        return self._engine

    @cached_property
    def topics(self) -> TopicSchema:
        return load_topics(self.settings.topics_file)

    def tagger(self, session: Session | None = None) -> Tagger:
        """The tagger, taught by the seed sections stored in the database (if any)."""
        exemplars: list[tuple[str, str]] = []
        if session is not None:
            exemplars = [(s.title, s.text) for s in session.exec(select(SeedSection))]
        return Tagger(self.topics, self.settings.tagging, exemplars)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
