"""The persistent dedup index: one row per indexed document, two inverted indexes (rare
terms, LSH band keys) and the document frequency of every event term. It names documents by
(kind, id) without foreign keys so that it can be dropped and rebuilt from the articles and
seed sections."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, LargeBinary, String, Table, Text
from sqlmodel import Field, SQLModel

from monitor.store.models import UTCDateTime


class DedupDoc(SQLModel, table=True):
    __tablename__ = "dedup_doc"
    __table_args__ = (Index("ix_dedup_doc_ref", "ref_kind", "ref_id", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    ref_kind: str = Field(sa_column=Column(String(16), nullable=False))  # article | section
    ref_id: int
    published: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    text_hash: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    shingle_count: int = 0
    signature: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # uint64 array
    embedding: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # int8 vectors
    # The English embedder's vectors of an English document (NULL = not computed).
    embedding_en: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    features: str = Field(sa_column=Column(Text, nullable=False))  # JSON: event, specifics


class DedupTerm(SQLModel, table=True):
    """Postings of the rarest terms of each document (names, versions, numbers)."""

    __tablename__ = "dedup_term"
    __table_args__ = (Index("ix_dedup_term_term_doc", "term", "doc_id"),)

    id: int | None = Field(default=None, primary_key=True)
    term: str = Field(sa_column=Column(String(200), nullable=False))
    doc_id: int = Field(index=True)


class DedupBand(SQLModel, table=True):
    """LSH band keys of each document's MinHash signature (near-copy candidates)."""

    __tablename__ = "dedup_band"
    __table_args__ = (Index("ix_dedup_band_key_doc", "band_key", "doc_id"),)

    id: int | None = Field(default=None, primary_key=True)
    band_key: int = Field(sa_column=Column(BigInteger, nullable=False))
    doc_id: int = Field(index=True)


class DedupDf(SQLModel, table=True):
    """How many indexed documents use each event term; the empty term counts documents."""

    __tablename__ = "dedup_df"

    term: str = Field(sa_column=Column(String(200), primary_key=True))
    df: int = 0


# Core tables, for typed column expressions in queries and for `create_all(tables=...)`.
DOC_TABLE: Table = SQLModel.metadata.tables["dedup_doc"]
TERM_TABLE: Table = SQLModel.metadata.tables["dedup_term"]
BAND_TABLE: Table = SQLModel.metadata.tables["dedup_band"]
DF_TABLE: Table = SQLModel.metadata.tables["dedup_df"]
TABLES: list[Table] = [DOC_TABLE, TERM_TABLE, BAND_TABLE, DF_TABLE]
