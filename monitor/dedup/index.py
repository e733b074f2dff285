"""`DedupIndex`: candidate retrieval from the dedup tables and scoring of the candidates.

Work per new document is bounded whatever the corpus size: one hash lookup, one band-key
lookup, `query_terms` posting-list reads of at most `max_postings` rows each (through the
(term, doc_id) index), and at most `max_candidates` documents loaded and scored.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from typing import Any, Literal, cast

import numpy as np
from sqlalchemy import delete, select
from sqlmodel import Session

from monitor.dedup.features import Features, band_keys, extract_features
from monitor.dedup.score import DocRef, Verdict, compare_features, days_apart
from monitor.dedup.settings import DedupSettings
from monitor.dedup.tables import (
    BAND_TABLE,
    DOC_TABLE,
    TERM_TABLE,
    DedupBand,
    DedupDoc,
    DedupTerm,
)

_RANK = {"exact": 3, "near": 2, "same-story": 1}
# Core tables for queries: typed columns, where the SQLModel attributes read as plain values.
_DOC, _TERM, _BAND = DOC_TABLE, TERM_TABLE, BAND_TABLE


def _encode(features: Features) -> tuple[bytes, str]:
    signature = np.asarray(features.signature, dtype=np.uint64).tobytes()
    payload = {
        name: {k: round(v, 4) for k, v in getattr(features, name).items()}
        for name in ("body", "lead", "event")
    }
    return signature, json.dumps(payload, ensure_ascii=False, sort_keys=True)


def _decode(row: DedupDoc) -> Features:
    payload: dict[str, dict[str, float]] = json.loads(row.features)
    signature = tuple(int(v) for v in np.frombuffer(row.signature, dtype=np.uint64))
    return Features(
        text_hash=row.text_hash,
        shingle_count=row.shingle_count,
        signature=signature,
        body=payload["body"],
        lead=payload["lead"],
        event=payload["event"],
        published=row.published,
    )


def _ref(row: DedupDoc) -> DocRef:
    return DocRef(cast(Literal["article", "section"], row.ref_kind), row.ref_id)


def _query_terms(features: Features, limit: int) -> list[str]:
    ranked = sorted(features.event.items(), key=lambda kv: (-kv[1], kv[0]))
    return [term for term, _ in ranked[:limit]]


class DedupIndex:
    def __init__(self, session: Session, settings: DedupSettings) -> None:
        self.session = session
        self.settings = settings

    def match(self, title: str, text: str, published: datetime | None) -> Verdict:
        """The best earlier document this one duplicates; reads only."""
        features = extract_features(title, text, self.settings, published)
        return self.match_features(features)

    def match_features(self, features: Features) -> Verdict:
        query = select(DedupDoc).where(_DOC.c.text_hash == features.text_hash).limit(1)
        row = self.session.execute(query).scalars().first()
        if row is not None:
            return Verdict("exact", 1.0, ["identical text after normalisation"], _ref(row))
        best: Verdict | None = None
        for row in self._candidates(features):
            apart = days_apart(features.published, row.published)
            if apart is not None and apart > self.settings.window_days:
                continue
            verdict = compare_features(features, _decode(row), self.settings)
            verdict.of = _ref(row)
            if best is None or (_RANK.get(verdict.kind or "", 0), verdict.score) > (
                _RANK.get(best.kind or "", 0),
                best.score,
            ):
                best = verdict
        if best is None:
            return Verdict(None, 0.0, ["no earlier document shares a rare term"])
        if best.kind is None:
            best.of = None
        return best

    def _candidates(self, features: Features) -> list[DedupDoc]:
        limit = self.settings.max_postings
        votes: Counter[int] = Counter()
        keys = band_keys(features.signature, self.settings.band_rows)
        if keys:
            query = select(_BAND.c.doc_id).where(_BAND.c.band_key.in_(keys)).limit(limit)
            for doc_id in self.session.execute(query).scalars():
                votes[doc_id] += 1000  # a shared band outranks any term overlap
        for term in _query_terms(features, self.settings.query_terms):
            query = (
                select(_TERM.c.doc_id)
                .where(_TERM.c.term == term)
                .order_by(_TERM.c.doc_id.desc())
                .limit(limit)
            )
            for doc_id in self.session.execute(query).scalars():
                votes[doc_id] += 1
        chosen = [doc_id for doc_id, _ in votes.most_common(self.settings.max_candidates)]
        if not chosen:
            return []
        query = select(DedupDoc).where(_DOC.c.id.in_(chosen))
        return list(self.session.execute(query).scalars())

    def add(self, ref: DocRef, title: str, text: str, published: datetime | None) -> None:
        """Index a document in the caller's transaction (flushes, never commits)."""
        self.add_features(ref, extract_features(title, text, self.settings, published))

    def add_features(self, ref: DocRef, features: Features) -> None:
        self.remove(ref)
        signature, payload = _encode(features)
        doc = DedupDoc(
            ref_kind=ref.kind,
            ref_id=ref.id,
            published=features.published,
            text_hash=features.text_hash,
            shingle_count=features.shingle_count,
            signature=signature,
            features=payload,
        )
        self.session.add(doc)
        self.session.flush()
        assert doc.id is not None
        terms = _query_terms(features, self.settings.index_terms)
        rows: list[Any] = [DedupTerm(term=term[:200], doc_id=doc.id) for term in terms]
        keys = set(band_keys(features.signature, self.settings.band_rows))
        rows += [DedupBand(band_key=key, doc_id=doc.id) for key in sorted(keys)]
        self.session.add_all(rows)
        self.session.flush()

    def remove(self, ref: DocRef) -> None:
        query = select(_DOC.c.id).where(_DOC.c.ref_kind == ref.kind, _DOC.c.ref_id == ref.id)
        doc_id = self.session.execute(query).scalars().first()
        if doc_id is None:
            return
        self.session.execute(delete(_TERM).where(_TERM.c.doc_id == doc_id))
        self.session.execute(delete(_BAND).where(_BAND.c.doc_id == doc_id))
        self.session.execute(delete(_DOC).where(_DOC.c.id == doc_id))
