"""`DedupIndex`: candidate retrieval from the dedup tables and scoring of the candidates.

Work per new document is bounded whatever the corpus size: one hash lookup, one band-key
lookup, one read of the document frequencies of its terms, `query_terms` posting-list reads
of at most `max_postings` rows each (through the (term, doc_id) index), and at most
`max_candidates` documents loaded and compared by their terms (`score.ruled_out`: the vetoes
and the score with the cosines at their ceiling). Only if a candidate is left does the
embedder run (loaded on first use): one batch with the new document's lead and the leads of
the candidates left that have no vector yet; their vectors are written back to their rows,
the new document's is stored with it. A document whose candidates were all ruled out is
stored with an empty `embedding` and its lead in the payload, to be embedded if a later
document ever needs it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any, Literal, cast

import numpy as np
from sqlalchemy import bindparam, delete, select, update
from sqlmodel import Session

from monitor.config.dedup import DedupSettings
from monitor.dedup.embed import unpack
from monitor.dedup.features import Features, band_keys, embed_leads, extract_features
from monitor.dedup.rarity import Corpus
from monitor.dedup.score import (
    DocRef,
    Verdict,
    compare_features,
    containment,
    days_apart,
    english,
    ruled_out,
    shared_share,
    story_parts,
)
from monitor.store.dedup_sql import candidate_query, terms_statements
from monitor.store.dedup_tables import (
    BAND_TABLE,
    DF_TABLE,
    DOC_TABLE,
    TERM_TABLE,
)

_RANK = {"exact": 3, "near": 2, "same-story": 1}
_DOC, _TERM, _BAND, _DF = DOC_TABLE, TERM_TABLE, BAND_TABLE, DF_TABLE
_DOCS = ""  # the dedup_df row that counts the indexed documents
_Key = tuple[str, str, datetime | None]
# Statements used per document, built once (SQLAlchemy then reuses their compiled form).
_BY_HASH = (
    select(_DOC.c.ref_kind, _DOC.c.ref_id).where(_DOC.c.text_hash == bindparam("hash")).limit(1)
)
_BY_REF = select(_DOC.c.id, _DOC.c.features).where(
    _DOC.c.ref_kind == bindparam("kind"), _DOC.c.ref_id == bindparam("id")
)
_NEW_DOC = _DOC.insert()
_NEW_TERMS = _TERM.insert()
_NEW_BANDS = _BAND.insert()
_DROP_DOC = (
    delete(_TERM).where(_TERM.c.doc_id == bindparam("doc_id")),
    delete(_BAND).where(_BAND.c.doc_id == bindparam("doc_id")),
    delete(_DOC).where(_DOC.c.id == bindparam("doc_id")),
)
_SET_EMBEDDING = (
    update(_DOC).where(_DOC.c.id == bindparam("doc_id")).values(embedding=bindparam("vector"))
)
_SET_EMBEDDING_EN = (
    update(_DOC).where(_DOC.c.id == bindparam("doc_id")).values(embedding_en=bindparam("vector"))
)


def encode_payload(
    event: dict[str, float],
    specifics: dict[str, tuple[str, ...]],
    language: str | None = "en",
    years: tuple[int, ...] = (),
    duplicate: bool = False,
    lead: str = "",
) -> str:
    """The `features` column of a document: its event terms, specifics, language, the years
    it names, whether it was stored as a same-story duplicate, and its lead (embedded when
    a later document needs its vector)."""
    payload = {
        "event": {k: round(v, 3) for k, v in event.items()},
        "specifics": {k: list(v) for k, v in specifics.items()},
        "language": language,
        "years": list(years),
        "duplicate": duplicate,
        "lead": lead,
    }
    return json.dumps(payload, ensure_ascii=False, sort_keys=True)


def _encode(features: Features, duplicate: bool) -> tuple[bytes, str]:
    signature = np.asarray(features.signature, dtype=np.uint64).tobytes()
    payload = encode_payload(
        features.event,
        features.specifics,
        features.language,
        features.years,
        duplicate,
        features.lead,
    )
    return signature, payload


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
        # Indexed before languages were recorded: English, the only language read then.
        language=payload.get("language", "en"),
        years=tuple(payload.get("years", ())),
        duplicate=bool(payload.get("duplicate", False)),
        # Indexed before leads were kept: those documents all have their vectors.
        lead=payload.get("lead", ""),
        embedding_en=row.embedding_en or b"",
    )


def _ref(row: Any) -> DocRef:
    return DocRef(cast(Literal["article", "section"], row.ref_kind), row.ref_id)


class DedupIndex:
    def __init__(self, session: Session, settings: DedupSettings, cache: bool = True) -> None:
        """`cache`: write the vectors computed for stored documents back to their rows (a
        reader such as `monitor inspect` leaves the database as it is)."""
        self.session = session
        self.settings = settings
        self.cache = cache
        # The pipeline matches a document, then adds it: its features are computed once.
        self._last: tuple[_Key, Features] | None = None
        self._known: tuple[Features, Corpus] | None = None
        # The last matched document with the vectors its match computed, for `add`.
        self._vector: tuple[Features, Features] | None = None
        self.embedded_new = 0  # matched documents whose lead the embedder read
        self.embedded_stored = 0  # stored documents embedded lazily (then cached)

    def features(self, title: str, text: str, published: datetime | None) -> Features:
        key = (title, text, published)
        if self._last is None or self._last[0] != key:
            features = extract_features(title, text, self.settings, published, embed=False)
            self._last = (key, features)
        return self._last[1]

    def match(self, title: str, text: str, published: datetime | None) -> Verdict:
        """The best earlier document this one duplicates; writes nothing but the vectors it
        computed for stored documents (unless `cache` is off)."""
        return self.match_features(self.features(title, text, published))

    def match_features(self, features: Features) -> Verdict:
        row = self.session.execute(_BY_HASH, {"hash": features.text_hash}).first()
        if row is not None:
            return Verdict("exact", 1.0, ["identical text after normalisation"], _ref(row))
        corpus = self._corpus_of(features)
        rows = self._plausible(features, self._candidates(features, corpus))
        rows, candidates = _distinct(rows, [_decode(row) for row in rows])
        # One read of the frequencies of every candidate's terms, not one per candidate.
        if candidates:
            corpus = self.corpus(set().union(*(c.event for c in candidates)), corpus)
        # The cheap layer: near copies need no vector; the others are compared by their
        # terms first, and only those no veto or bound rules out are embedded.
        kept: list[tuple[Any, Features]] = []
        undecided: list[tuple[int, bool]] = []  # (index in kept, judged by the English model)
        for row, candidate in zip(rows, candidates, strict=True):
            if containment(features, candidate) >= self.settings.near_threshold:
                kept.append((row, candidate))
                continue
            parts = story_parts(features, candidate, corpus, (candidate,), vectors=False)
            if ruled_out(features, candidate, parts, self.settings) is None:
                routed = english(self.settings, features, candidate, parts.event)
                undecided.append((len(kept), routed))
                kept.append((row, candidate))
        if undecided:
            features, kept = self._embed(features, kept, undecided)
        best: Verdict | None = None
        for row, candidate in kept:
            verdict = compare_features(features, candidate, self.settings, corpus, (candidate,))
            verdict.of = _ref(row)
            rank = (_RANK.get(verdict.kind or "", 0), verdict.score)
            if best is None or rank > (_RANK.get(best.kind or "", 0), best.score):
                best = verdict
        if best is None:
            return Verdict(None, 0.0, ["no earlier document is close enough to compare"])
        if best.kind is None:
            best.of = None
        return best

    def _embed(
        self,
        features: Features,
        kept: list[tuple[Any, Features]],
        undecided: list[tuple[int, bool]],
    ) -> tuple[Features, list[tuple[Any, Features]]]:
        """`features` and the `undecided` of `kept` with the vectors their pairs are judged
        by (the English embedder's for a routed pair): one batch per embedder for those
        without, the stored ones' written back to their rows."""
        kept = list(kept)
        original = features
        for routed in (False, True):
            wanted = [i for i, english_pair in undecided if english_pair == routed]
            missing = [i for i in wanted if not _vectors(kept[i][1], routed) and kept[i][1].lead]
            mine = bool(wanted) and not _vectors(features, routed) and bool(features.lead)
            leads = ([features.lead] if mine else []) + [kept[i][1].lead for i in missing]
            if not leads:
                continue
            vectors = embed_leads(leads, self.settings, english=routed)
            if mine:
                features = _with_vectors(features, routed, vectors.pop(0))
                self._vector = (original, features)
            for i, vector in zip(missing, vectors, strict=True):
                row, candidate = kept[i]
                kept[i] = (row, _with_vectors(candidate, routed, vector))
            if missing:
                self.embedded_stored += len(missing)
                if self.cache:
                    statement = _SET_EMBEDDING_EN if routed else _SET_EMBEDDING
                    rows = [(kept[i][0].id, _vectors(kept[i][1], routed)) for i in missing]
                    self.session.execute(
                        statement, [{"doc_id": doc_id, "vector": v} for doc_id, v in rows]
                    )
        self.embedded_new += features is not original  # the new document's lead was read
        return features, kept

    def _corpus_of(self, features: Features) -> Corpus:
        """The frequencies of `features`' terms, read once for a match and the add after it
        (any change to the counts forgets them)."""
        if self._known is not None and self._known[0] is features:
            return self._known[1]
        corpus = self.corpus(features.event)
        self._known = (features, corpus)
        return corpus

    def corpus(self, terms: Iterable[str], known: Corpus | None = None) -> Corpus:
        """Document frequencies of `terms` (and of those `known` already holds)."""
        df = dict(known.df) if known is not None else {}
        wanted = [t for t in terms if t not in df]
        if known is None:
            wanted.append(_DOCS)
        if wanted:
            connection = self.session.connection()
            read, *_, bind = terms_statements(connection.dialect.name)
            df.update(connection.execute(read, {"terms": bind(wanted)}).all())
        docs = known.docs if known is not None else df.pop(_DOCS, 0)
        return Corpus(docs, df, self.settings.corpus_prior_docs)

    def _candidates(self, features: Features, corpus: Corpus) -> list[Any]:
        """The `max_candidates` documents with the most votes, in one statement: a shared
        LSH band outranks any term overlap; each posting list (band hits, and each of the
        rarest terms some indexed document uses) is read newest first and cut at
        `max_postings`, and the votes are counted by the database."""
        keys = band_keys(features.signature, self.settings.band_rows)
        used = {t: w for t, w in features.event.items() if corpus.df.get(t, 0) > 0}
        terms = _rarest(corpus.weigh(used), self.settings.query_terms)
        if not keys and not terms:
            return []
        s = self.settings
        query = candidate_query(len(terms), bool(keys), s.max_postings, s.max_candidates)
        params: dict[str, Any] = {f"t{n}": term for n, term in enumerate(terms)}
        if keys:
            params["keys"] = keys
        return list(self.session.connection().execute(query, params).all())

    def _plausible(self, features: Features, rows: list[Any]) -> list[Any]:
        """Candidates in the time window that could reach a verdict. With the new
        document's vector at hand (a pure caller computed it), those with a vector are
        kept if a near copy, or if their cosines are close enough that shared names and
        numbers could still tip the score; those without one go on to `ruled_out`."""
        s = self.settings
        rows = [r for r in rows if _within(features.published, r.published, s.window_days)]
        if not features.embedding or (s.routes_english and features.language == "en"):
            return rows  # (English pairs may be judged by another embedder's cosines)
        kept = [r for r in rows if not r.embedding]
        same_size = [r for r in rows if len(r.embedding) == len(features.embedding)]
        if not same_size:
            return kept
        # One matrix product for all candidates: (n, 2, dim) against (2, dim).
        mine = np.stack(unpack(features.embedding, 2))
        packed = np.frombuffer(b"".join(r.embedding for r in same_size), dtype=np.int8)
        theirs = packed.astype(np.float32).reshape(len(same_size), 2, -1)
        theirs = theirs / (np.linalg.norm(theirs, axis=2, keepdims=True) + 1e-12)
        cosines = np.einsum("nkd,kd->nk", theirs, mine)
        bound = s.weight_lead * cosines[:, 0] + s.weight_head * cosines[:, 1]
        bound += max(0.0, s.weight_event)
        mine_sig = np.asarray(features.signature, dtype=np.uint64)
        for row, limit in zip(same_size, bound, strict=True):
            if limit >= min(s.same_story_threshold, s.cross_language_threshold):
                kept.append(row)
                continue
            # `containment`, on the stored bytes: no tuple of Python ints per candidate.
            sig = np.frombuffer(row.signature, dtype=np.uint64)
            if not (features.shingle_count and row.shingle_count) or len(sig) != len(mine_sig):
                continue
            jaccard = int(np.count_nonzero(sig == mine_sig)) / len(mine_sig)
            if shared_share(jaccard, features.shingle_count, row.shingle_count) >= s.near_threshold:
                kept.append(row)
        return sorted(kept, key=lambda r: r.id)

    def add(self, ref: DocRef, title: str, text: str, published: datetime | None) -> None:
        """Index a document in the caller's transaction (flushes, never commits)."""
        self.add_features(ref, self.features(title, text, published))

    def add_features(self, ref: DocRef, features: Features, duplicate: bool = False) -> None:
        """`duplicate`: the document is a same-story duplicate of an earlier one; later
        documents still find it as an exact or near copy, but are linked to its original
        rather than to it as the same story (no chains)."""
        self.remove(ref)
        corpus = self._corpus_of(features)
        signature, payload = _encode(features, duplicate)
        if self._vector is not None and self._vector[0] is features:
            features = self._vector[1]  # with the vectors the match before computed
        # Core statements, not ORM objects: a document writes about 50 rows.
        connection = self.session.connection()
        inserted = connection.execute(
            _NEW_DOC,
            {
                "ref_kind": ref.kind,
                "ref_id": ref.id,
                "published": features.published,
                "text_hash": features.text_hash,
                "shingle_count": features.shingle_count,
                "signature": signature,
                "embedding": features.embedding,
                "embedding_en": features.embedding_en or None,
                "features": payload,
            },
        )
        key = inserted.inserted_primary_key
        assert key is not None
        doc_id = key[0]
        terms = _rarest(corpus.weigh(features.event), self.settings.index_terms)
        if terms:
            connection.execute(_NEW_TERMS, [{"term": t, "doc_id": doc_id} for t in terms])
        keys = sorted(set(band_keys(features.signature, self.settings.band_rows)))
        if keys:
            connection.execute(_NEW_BANDS, [{"band_key": k, "doc_id": doc_id} for k in keys])
        self._count([*features.event, _DOCS], +1)

    def remove(self, ref: DocRef) -> None:
        connection = self.session.connection()
        found = connection.execute(_BY_REF, {"kind": ref.kind, "id": ref.id}).first()
        if found is None:
            return
        doc_id, payload = found
        self._count([*json.loads(payload)["event"], _DOCS], -1)
        for statement in _DROP_DOC:
            connection.execute(statement, {"doc_id": doc_id})

    def _count(self, terms: list[str], step: int) -> None:
        """Add `step` to the document frequency of `terms` (rows at 0 are dropped): one
        statement for all the terms (two when counting down), their list bound as one
        value, not a row or a placeholder per term."""
        self._known = None
        connection = self.session.connection()
        _, add, down, drop, bind = terms_statements(connection.dialect.name)
        if step <= 0:  # each term counted down once, however often listed (as before)
            bound = bind(list(dict.fromkeys(terms)))
            connection.execute(down, {"terms": bound, "step": step})
            connection.execute(drop, {"terms": bound})
            return
        # Counting up, a term listed twice counts twice (as a row per listing did).
        times: dict[int, list[str]] = {}
        for term, n in Counter(terms).items():
            times.setdefault(n, []).append(term)
        for n, group in times.items():
            connection.execute(add, {"terms": bind(group), "step": step * n})


def _distinct(rows: list[Any], candidates: list[Features]) -> tuple[list[Any], list[Features]]:
    """The first (oldest) of candidates that would get the same verdict: exact copies of one
    text (every copy is indexed) with the same time and duplicate flag, compared and
    embedded once rather than once per copy."""
    seen: set[tuple[str, datetime | None, bool]] = set()
    kept_rows, kept = [], []
    for row, candidate in zip(rows, candidates, strict=True):
        key = (candidate.text_hash, candidate.published, candidate.duplicate)
        if key not in seen:
            seen.add(key)
            kept_rows.append(row)
            kept.append(candidate)
    return kept_rows, kept


def _vectors(features: Features, english: bool) -> bytes:
    return features.embedding_en if english else features.embedding


def _with_vectors(features: Features, english: bool, vectors: bytes) -> Features:
    if english:
        return replace(features, embedding_en=vectors)
    return replace(features, embedding=vectors)


def _within(a: datetime | None, b: datetime | None, window: float) -> bool:
    apart = days_apart(a, b)
    return apart is None or apart <= window


def _rarest(weights: dict[str, float], limit: int) -> list[str]:
    return [t for t, _ in sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]]
