"""Alembic environment: the engine comes from monitor.db (or MONITOR_DATABASE_URL for the CLI)."""

from __future__ import annotations

import os

from alembic import context
from sqlmodel import SQLModel

import monitor.store.dedup_tables  # registers the tables on SQLModel.metadata
import monitor.store.models  # noqa: F401
from monitor.store.db import make_engine

target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    engine = context.config.attributes.get("engine")
    if engine is None:
        engine = make_engine(os.environ.get("MONITOR_DATABASE_URL", "sqlite:///data/monitor.db"))
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        context.run_migrations()


run_migrations_online()
