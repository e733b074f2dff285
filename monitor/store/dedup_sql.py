"""The dedup index's SQL, built once per statement shape and dialect as `text()`
statements: the candidate query and the statements on the counts of a list of terms
(`monitor.store.dedup_index.DedupIndex` runs them)."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from sqlalchemy import TextClause, TextualSelect, bindparam, text

from monitor.store.dedup_tables import BAND_TABLE, DF_TABLE, DOC_TABLE, TERM_TABLE

Bind = Callable[[list[str]], Any]  # a list of terms as the driver takes it


@lru_cache(maxsize=4)
def terms_statements(dialect: str) -> tuple[TextClause, TextClause, TextClause, TextClause, Bind]:
    """Statements on the counts of a list of terms bound as `terms`: (read them, add `step`
    creating the missing rows at `step`, add a negative `step` to the existing rows, drop
    those at 0 or below), and how to bind the list: a JSON array read by `json_each` on
    SQLite, an array on PostgreSQL. One statement text whatever the number of terms, so
    nothing is expanded or rendered per call and no row of parameters built per term.
    (Imported nothing: the two dialects speak these through plain SQL.)"""
    df = DF_TABLE.name
    if dialect == "postgresql":
        terms = "SELECT unnest(CAST(:terms AS text[]))"
        add = (
            f"INSERT INTO {df} (term, df)"
            " SELECT unnest(CAST(:terms AS text[])), CAST(:step AS integer)"
        )
        bind: Bind = list
    else:
        terms = "SELECT value FROM json_each(:terms)"
        # WHERE true: SQLite needs it to read ON CONFLICT after a SELECT as the upsert.
        add = f"INSERT INTO {df} (term, df) SELECT value, :step FROM json_each(:terms) WHERE true"
        bind = json.dumps
    return (
        text(f"SELECT term, df FROM {df} WHERE term IN ({terms})"),
        text(f"{add} ON CONFLICT (term) DO UPDATE SET df = {df}.df + excluded.df"),
        text(f"UPDATE {df} SET df = df + :step WHERE term IN ({terms})"),
        text(f"DELETE FROM {df} WHERE term IN ({terms}) AND df <= 0"),
        bind,
    )


@lru_cache(maxsize=64)
def candidate_query(terms: int, bands: bool, limit: int, top: int) -> TextualSelect:
    """The documents with the most votes from the band keys (bound as `keys`) and `terms`
    posting lists (bound as t0, t1, ...): built once per shape.

    A `text()` statement with its result columns typed, not a composed `select`: SQLAlchemy
    computes the cache key of a statement on every execution, and that of a union of up to
    13 subqueries cost more than the query itself. The SQL is what the composed statement
    rendered (SQLite and PostgreSQL alike); `limit` and `top` are integers of the settings.
    """
    limit, top = int(limit), int(top)
    doc, term, band = DOC_TABLE.name, TERM_TABLE.name, BAND_TABLE.name
    lists: list[str] = []
    if bands:
        lists.append(
            f"SELECT hits.doc_id AS doc_id, 1000 AS votes FROM (SELECT {band}.doc_id AS doc_id"
            f" FROM {band} WHERE {band}.band_key IN :keys LIMIT {limit}) AS hits"
        )
    for n in range(terms):
        lists.append(
            f"SELECT p{n}.doc_id AS doc_id, 1 AS votes FROM (SELECT {term}.doc_id AS doc_id"
            f" FROM {term} WHERE {term}.term = :t{n} ORDER BY {term}.doc_id DESC"
            f" LIMIT {limit}) AS p{n}"
        )
    columns = ", ".join(f"{doc}.{c.name}" for c in DOC_TABLE.c)
    sql = (
        f"SELECT {columns} FROM {doc} WHERE {doc}.id IN (SELECT ballot.doc_id FROM"
        f" ({' UNION ALL '.join(lists)}) AS ballot GROUP BY ballot.doc_id"
        f" ORDER BY sum(ballot.votes) DESC, ballot.doc_id DESC LIMIT {top}) ORDER BY {doc}.id"
    )
    params = [bindparam(f"t{n}", type_=TERM_TABLE.c.term.type) for n in range(terms)]
    if bands:
        params.append(bindparam("keys", expanding=True, type_=BAND_TABLE.c.band_key.type))
    return text(sql).bindparams(*params).columns(*DOC_TABLE.c)
