"""`DedupIndex`: candidate retrieval from the dedup tables and scoring of the candidates.

Work per new document is bounded whatever the corpus size: one embedding of its lead, one
hash lookup, one band-key lookup, one read of the document frequencies of its terms,
`query_terms` posting-list reads of at most `max_postings` rows each (through the
(term, doc_id) index), and at most `max_candidates` documents loaded and scored with a
few dot products; only those the embeddings leave in play have their terms compared.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal, cast

import numpy as np
from sqlalchemy import CompoundSelect, bindparam, delete, select, union_all, update
from sqlmodel import Session

from monitor.dedup.embed import unpack
from monitor.dedup.features import Features, band_keys, extract_features
from monitor.dedup.rarity import Corpus
from monitor.dedup.score import (
    DocRef,
    Verdict,
    compare_features,
    containment,
    days_apart,
)
from monitor.dedup.settings import DedupSettings
from monitor.dedup.tables import (
    BAND_TABLE,
    DF_TABLE,
    DOC_TABLE,
    TERM_TABLE,
    DedupBand,
    DedupDoc,
    DedupTerm,
)

_RANK = {"exact": 3, "near": 2, "same-story": 1}
_DOC, _TERM, _BAND, _DF = DOC_TABLE, TERM_TABLE, BAND_TABLE, DF_TABLE
_DOCS = ""  # the dedup_df row that counts the indexed documents
_Key = tuple[str, str, datetime | None]


def _encode(features: Features) -> tuple[bytes, str]:
    signature = np.asarray(features.signature, dtype=np.uint64).tobytes()
    payload = {
        "event": {k: round(v, 3) for k, v in features.event.items()},
        "specifics": {k: list(v) for k, v in features.specifics.items()},
    }
    return signature, json.dumps(payload, ensure_ascii=False, sort_keys=True)


def _decode(row: Any) -> Features:
    payload: dict[str, Any] = json.loads(row.features)
    return Features(
        text_hash=row.text_hash,
        shingle_count=row.shingle_count,
        signature=tuple(int(v) for v in np.frombuffer(row.signature, dtype=np.uint64)),
        embedding=row.embedding,
        event=payload["event"],
        specifics={k: tuple(v) for k, v in payload["specifics"].items()},
        published=row.published,
    )


def _ref(row: Any) -> DocRef:
    return DocRef(cast(Literal["article", "section"], row.ref_kind), row.ref_id)


class DedupIndex:
    def __init__(self, session: Session, settings: DedupSettings) -> None:
        self.session = session
        self.settings = settings
        # The pipeline matches a document, then adds it: its features are computed once.
        self._last: tuple[_Key, Features] | None = None

    def features(self, title: str, text: str, published: datetime | None) -> Features:
        key = (title, text, published)
        if self._last is None or self._last[0] != key:
            self._last = (key, extract_features(title, text, self.settings, published))
        return self._last[1]

    def match(self, title: str, text: str, published: datetime | None) -> Verdict:
        """The best earlier document this one duplicates; reads only."""
        return self.match_features(self.features(title, text, published))

    def match_features(self, features: Features) -> Verdict:
        query = select(DedupDoc).where(_DOC.c.text_hash == features.text_hash).limit(1)
        row = self.session.execute(query).scalars().first()
        if row is not None:
            return Verdict("exact", 1.0, ["identical text after normalisation"], _ref(row))
        corpus = self.corpus(features.event)
        best: Verdict | None = None
        for row in self._plausible(features, self._candidates(features, corpus)):
            candidate = _decode(row)
            verdict = compare_features(
                features,
                candidate,
                self.settings,
                self.corpus(candidate.event, corpus),
                (candidate,),
            )
            verdict.of = _ref(row)
            rank = (_RANK.get(verdict.kind or "", 0), verdict.score)
            if best is None or rank > (_RANK.get(best.kind or "", 0), best.score):
                best = verdict
        if best is None:
            return Verdict(None, 0.0, ["no earlier document is close enough to compare"])
        if best.kind is None:
            best.of = None
        return best

    def corpus(self, terms: Iterable[str], known: Corpus | None = None) -> Corpus:
        """Document frequencies of `terms` (and of those `known` already holds)."""
        df = dict(known.df) if known is not None else {}
        wanted = [t for t in terms if t not in df]
        if known is None:
            wanted.append(_DOCS)
        if wanted:
            query = select(_DF.c.term, _DF.c.df).where(_DF.c.term.in_(wanted))
            df.update({term: count for term, count in self.session.execute(query)})
        docs = known.docs if known is not None else df.pop(_DOCS, 0)
        return Corpus(docs, df, self.settings.corpus_prior_docs)

    def _candidates(self, features: Features, corpus: Corpus) -> list[Any]:
        limit = self.settings.max_postings
        votes: Counter[int] = Counter()
        keys = band_keys(features.signature, self.settings.band_rows)
        if keys:
            query = select(_BAND.c.doc_id).where(_BAND.c.band_key.in_(keys)).limit(limit)
            for doc_id in self.session.execute(query).scalars():
                votes[doc_id] += 1000  # a shared band outranks any term overlap
        # Only terms some indexed document uses can have postings; each posting list is
        # read newest first and cut at `max_postings`, in one statement.
        used = {t: w for t, w in features.event.items() if corpus.df.get(t, 0) > 0}
        terms = _rarest(corpus.weigh(used), self.settings.query_terms)
        if terms:
            params = {f"t{n}": term for n, term in enumerate(terms)}
            postings = self.session.execute(_postings(len(terms), limit), params)
            for doc_id in postings.scalars():
                votes[doc_id] += 1
        chosen = [doc_id for doc_id, _ in votes.most_common(self.settings.max_candidates)]
        if not chosen:
            return []
        return list(self.session.execute(select(_DOC).where(_DOC.c.id.in_(chosen))))

    def _plausible(self, features: Features, rows: list[Any]) -> list[Any]:
        """Candidates in the time window that could reach a verdict: a near copy, or
        embeddings close enough that shared names and numbers could still tip the score."""
        s = self.settings
        rows = [r for r in rows if _within(features.published, r.published, s.window_days)]
        same_size = [r for r in rows if len(r.embedding) == len(features.embedding)]
        if not same_size or not features.embedding:
            return []
        # One matrix product for all candidates: (n, 2, dim) against (2, dim).
        mine = np.stack(unpack(features.embedding, 2))
        packed = np.frombuffer(b"".join(r.embedding for r in same_size), dtype=np.int8)
        theirs = packed.astype(np.float32).reshape(len(same_size), 2, -1)
        theirs = theirs / (np.linalg.norm(theirs, axis=2, keepdims=True) + 1e-12)
        cosines = np.einsum("nkd,kd->nk", theirs, mine)
        bound = s.weight_lead * cosines[:, 0] + s.weight_head * cosines[:, 1]
        bound += max(0.0, s.weight_event)
        kept = []
        for row, limit in zip(same_size, bound, strict=True):
            if limit >= s.same_story_threshold:
                kept.append(row)
                continue
            signature = tuple(int(v) for v in np.frombuffer(row.signature, dtype=np.uint64))
            other = Features(row.text_hash, row.shingle_count, signature, b"", {})
            if containment(features, other) >= s.near_threshold:
                kept.append(row)
        return kept

    def add(self, ref: DocRef, title: str, text: str, published: datetime | None) -> None:
        """Index a document in the caller's transaction (flushes, never commits)."""
        self.add_features(ref, self.features(title, text, published))

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
            embedding=features.embedding,
            features=payload,
        )
        self.session.add(doc)
        self.session.flush()
        assert doc.id is not None
        corpus = self.corpus(features.event)
        terms = _rarest(corpus.weigh(features.event), self.settings.index_terms)
        rows: list[Any] = [DedupTerm(term=term, doc_id=doc.id) for term in terms]
        keys = set(band_keys(features.signature, self.settings.band_rows))
        rows += [DedupBand(band_key=key, doc_id=doc.id) for key in sorted(keys)]
        self.session.add_all(rows)
        self._count([*features.event, _DOCS], +1)
        self.session.flush()

    def remove(self, ref: DocRef) -> None:
        query = select(_DOC.c.id, _DOC.c.features).where(
            _DOC.c.ref_kind == ref.kind, _DOC.c.ref_id == ref.id
        )
        found = self.session.execute(query).first()
        if found is None:
            return
        doc_id, payload = found
        self._count([*json.loads(payload)["event"], _DOCS], -1)
        self.session.execute(delete(_TERM).where(_TERM.c.doc_id == doc_id))
        self.session.execute(delete(_BAND).where(_BAND.c.doc_id == doc_id))
        self.session.execute(delete(_DOC).where(_DOC.c.id == doc_id))

    def _count(self, terms: list[str], step: int) -> None:
        """Add `step` to the document frequency of `terms` (rows at 0 are dropped)."""
        query = select(_DF.c.term).where(_DF.c.term.in_(terms))
        present = set(self.session.execute(query).scalars())
        existing = [t for t in terms if t in present]
        if existing:
            self.session.execute(
                update(_DF).where(_DF.c.term.in_(existing)).values(df=_DF.c.df + step)
            )
        missing = [{"term": t, "df": step} for t in terms if t not in present]
        if missing and step > 0:
            self.session.execute(_DF.insert(), missing)
        if step < 0 and existing:
            self.session.execute(delete(_DF).where(_DF.c.term.in_(existing), _DF.c.df <= 0))


@lru_cache(maxsize=64)
def _postings(count: int, limit: int) -> CompoundSelect[tuple[int]]:
    """Newest `limit` postings of each of `count` terms (bound as t0, t1, ...), built once."""
    lists = [
        select(_TERM.c.doc_id)
        .where(_TERM.c.term == bindparam(f"t{n}"))
        .order_by(_TERM.c.doc_id.desc())
        .limit(limit)
        .subquery()
        for n in range(count)
    ]
    return union_all(*(select(sub.c.doc_id) for sub in lists))


def _within(a: datetime | None, b: datetime | None, window: float) -> bool:
    apart = days_apart(a, b)
    return apart is None or apart <= window


def _rarest(weights: dict[str, float], limit: int) -> list[str]:
    return [t for t, _ in sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]]
