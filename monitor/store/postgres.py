"""Everything PostgreSQL-specific in one place: the tsvector search, advisory locks (the
per-feed lease of the workers, the dedup critical section) and NUL-free text parameters."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

# 'simple': no stemming and no stop words, like SQLite's unicode61 tokenizer, so both
# backends find the same articles for the same words (the corpus is not only English).
FTS_CONFIG = "simple"
SEARCH_COLUMN = "search"
SEARCH_INDEX = "ix_article_search"

# A stored generated column: kept in step with title and text by PostgreSQL itself.
FTS_DDL = [
    f"ALTER TABLE article ADD COLUMN {SEARCH_COLUMN} tsvector GENERATED ALWAYS AS ("
    f"setweight(to_tsvector('{FTS_CONFIG}', coalesce(title, '')), 'A') || "
    f"setweight(to_tsvector('{FTS_CONFIG}', coalesce(text, '')), 'B')) STORED",
    f"CREATE INDEX {SEARCH_INDEX} ON article USING GIN ({SEARCH_COLUMN})",
]
FTS_DROP = [
    f"DROP INDEX IF EXISTS {SEARCH_INDEX}",
    f"ALTER TABLE article DROP COLUMN IF EXISTS {SEARCH_COLUMN}",
]

# plainto_tsquery: every word required (as with SQLite's quoted terms); no operator in the
# user's input has a meaning, so nothing typed can make the query invalid.
SEARCH_SQL = (
    "SELECT a.id AS id, ts_headline("
    f"'{FTS_CONFIG}', a.text, q, "
    "'StartSel=[, StopSel=], MinWords=8, MaxWords=24, MaxFragments=1, "
    'FragmentDelimiter=" … "\') AS snippet, '
    f"ts_rank_cd(a.{SEARCH_COLUMN}, q) AS rank "
    f"FROM article a, plainto_tsquery('{FTS_CONFIG}', :q) q "
    f"WHERE a.{SEARCH_COLUMN} @@ q ORDER BY rank DESC, a.id LIMIT :n"
)

# Advisory lock keys: (namespace, object). The namespace keeps ours apart from any other
# application's locks on a shared server.
LOCK_NAMESPACE = 0x6D6F6E  # "mon"
DEDUP_LOCK = 0  # object id of the dedup critical section; feed leases use the feed id + 1


def is_postgres(bind: Engine | Connection) -> bool:
    return bind.dialect.name == "postgresql"


def lock_dedup(session: Session) -> None:
    """Serialise match + insert + index of a new article across processes and machines.

    Transaction-scoped: released by the caller's commit or rollback. Two copies of one story
    arriving at two workers at once therefore see each other: exactly one is the original.
    """
    session.execute(
        text("SELECT pg_advisory_xact_lock(:ns, :obj)"), {"ns": LOCK_NAMESPACE, "obj": DEDUP_LOCK}
    )


@contextmanager
def feed_lease(engine: Engine, feed_id: int) -> Iterator[bool]:
    """Hold the feed's lease on a connection of its own for the whole block; yields whether
    it was free. Session-scoped, so a worker that dies (kill -9, a lost machine) releases it
    with its connection: nothing to expire by hand."""
    with engine.connect() as conn:
        params = {"ns": LOCK_NAMESPACE, "obj": feed_id + 1}
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:ns, :obj)"), params).scalar())
        conn.commit()
        try:
            yield got
        finally:
            if got:
                conn.execute(text("SELECT pg_advisory_unlock(:ns, :obj)"), params)
                conn.commit()


def _strip_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, dict):
        return {k: _strip_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_strip_nul(v) for v in value)
    return value


def install_text_guard(engine: Engine) -> None:
    """PostgreSQL text cannot hold NUL characters (SQLite stores them): feeds and pages are
    untrusted, so NULs are dropped from every parameter rather than failing the insert."""

    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def _before(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool
    ) -> tuple[str, Any]:
        return statement, _strip_nul(parameters)
