"""Everything SQLite-specific in one place: connection pragmas and the FTS5 search index."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

# External-content FTS5 table kept in step with `article` by triggers, so the text is
# stored once and `monitor search` never scans.
FTS_DDL = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS article_fts USING fts5("
    "title, text, content='article', content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER IF NOT EXISTS article_fts_ai AFTER INSERT ON article BEGIN "
    "INSERT INTO article_fts(rowid, title, text) VALUES (new.id, new.title, new.text); END",
    "CREATE TRIGGER IF NOT EXISTS article_fts_ad AFTER DELETE ON article BEGIN "
    "INSERT INTO article_fts(article_fts, rowid, title, text) "
    "VALUES ('delete', old.id, old.title, old.text); END",
    "CREATE TRIGGER IF NOT EXISTS article_fts_au AFTER UPDATE OF title, text ON article BEGIN "
    "INSERT INTO article_fts(article_fts, rowid, title, text) "
    "VALUES ('delete', old.id, old.title, old.text); "
    "INSERT INTO article_fts(rowid, title, text) VALUES (new.id, new.title, new.text); END",
]
FTS_DROP = [
    "DROP TRIGGER IF EXISTS article_fts_au",
    "DROP TRIGGER IF EXISTS article_fts_ad",
    "DROP TRIGGER IF EXISTS article_fts_ai",
    "DROP TABLE IF EXISTS article_fts",
]

# bm25 weights: a hit in the title counts more than one in the body.
SEARCH_SQL = (
    "SELECT rowid AS id, snippet(article_fts, 1, '[', ']', ' … ', 12) AS snippet, "
    "bm25(article_fts, 5.0, 1.0) AS rank FROM article_fts WHERE article_fts MATCH :q"
)


def fts_query(text: str) -> str:
    """Turn user input into a safe FTS5 query: every word a quoted term, all required.

    Users type words, not FTS syntax; quoting each token means `"`, `*`, `-`, `AND`,
    `NEAR(` and quotes can never make the query invalid or change its meaning.
    """
    terms = [t.replace('"', '""') for t in text.split()]
    return " ".join(f'"{t}"' for t in terms if t.strip('"'))


def install_pragmas(engine: Engine) -> None:
    """WAL (readers never block the writer), foreign keys, and a busy timeout."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()
