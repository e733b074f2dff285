"""The one owner of the database: builds the engine, runs migrations, hands out sessions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, create_engine

from monitor.errors import DatabaseError
from monitor.store import postgres, sqlite

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str) -> Engine:
    """Create the engine (never at import time); SQLite gets its folder and pragmas."""
    if url.startswith("sqlite:///") and ":memory:" not in url:
        path = Path(url[len("sqlite:///") :])
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseError(f"cannot create the database folder {path.parent}: {exc}") from exc
    try:
        engine = create_engine(url, pool_pre_ping=not url.startswith("sqlite"))
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise DatabaseError(f"cannot use database {url!r}: {exc}") from exc
    if is_sqlite(engine):
        sqlite.install_pragmas(engine)
    elif postgres.is_postgres(engine):
        postgres.install_text_guard(engine)
    return engine


def alembic_config(engine: Engine) -> Any:
    from alembic.config import Config as AlembicConfig  # only `init` migrates

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine) -> None:
    """Create or upgrade the schema to the newest migration (idempotent)."""
    from alembic import command

    try:
        command.upgrade(alembic_config(engine), "head")
    except SQLAlchemyError as exc:
        raise DatabaseError(f"cannot migrate the database: {exc}") from exc


def check_schema(engine: Engine) -> None:
    """Fail with a clear message when `monitor init` has not been run."""
    try:
        tables = inspect(engine).get_table_names()
    except SQLAlchemyError as exc:
        raise DatabaseError(f"cannot open the database: {exc}") from exc
    if "article" not in tables:
        raise DatabaseError("the database has no schema yet: run `monitor init` first")


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception."""
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
