"""A synthetic dedup index of 100k or 1M documents for the scale benchmark, built once and cached.

What is real: the schema (the project's migrations), the row shapes (`DedupIndex.add_features`
writes the same columns, the same payload encoding, the same band keys), the vocabulary (the
event terms of ~200 real news texts, with the rarity the real extractor gives them, and the
English word list of wordfreq for the long tail), the embedding space (story centroids are real
MiniLM embeddings of real leads), and ~200 documents indexed with fully real features (seed
sections, SemEval articles, real pages) that the benchmark's probes rewrite or copy.

What is synthetic, and why: everything else. Indexing 1M documents through `add_features`
with real embeddings would take 10 hours (35 ms per embedding), so the bench draws *features*
directly: event terms drawn by the share of news documents that use them (the real texts'
share for topical terms such as "deepseek", else the share their English frequency implies;
stories share a pool of 40 terms, so story terms come out more common than in real news,
which makes retrieval harder, not easier), MinHash signatures as random values (near copies
share most of them with an earlier document), lead/head embeddings as unit vectors scattered
around their story's direction (itself near a real centroid), int8-packed exactly as
`embed.pack` does; one document every ~30 s (1M) or ~5 min (100k) over a year. Rows are
bulk-inserted without the secondary indexes, which are then rebuilt from the migration's own
DDL (same names, same columns).
Document frequencies are counted over the whole corpus (the real index counts them as it
goes), so each document's indexed "rarest terms" are chosen with the final counts.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
import time
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from monitor.config.dedup import DedupSettings
from monitor.dedup.features import Features, band_keys, extract_features
from monitor.dedup.rarity import ZIPF_TOP, Corpus, general_rarity
from monitor.store.db import make_engine, migrate
from monitor.store.dedup_index import encode_payload

ROOT = Path(__file__).resolve().parent.parent
VERSION = "6"  # bump when the generator changes: cached databases are keyed by it
START = datetime(2025, 1, 1, tzinfo=UTC)
YEAR = timedelta(days=365)
DIM = 512  # the default (multilingual) embedder's vectors
STORY_DOCS = 15  # documents per story, on average
NEAR_SHARE = 0.05  # share of documents that are syndicated copies of a recent one
CHUNK = 20_000
DOC_ZIPF = math.log10(1e9 / 500)  # as in monitor.dedup.rarity: documents of ~500 words
_DOC_COLUMNS = (
    "id, ref_kind, ref_id, published, text_hash, shingle_count, signature, embedding, features"
)


@dataclass(frozen=True)
class Planted:
    """A document with real features, indexed among the synthetic ones."""

    kind: str  # "article" | "section"
    title: str
    text: str
    days_before_end: float | None  # None: a seed section (no date, first in the index)

    @property
    def published(self) -> datetime | None:
        if self.days_before_end is None:
            return None
        return START + YEAR - timedelta(days=self.days_before_end)


def cache_dir() -> Path:
    base = os.environ.get("MONITOR_BENCH_CACHE") or os.environ.get("XDG_CACHE_HOME")
    return Path(base or Path.home() / ".cache") / "monitor-bench"


def cache_key(settings: DedupSettings, size: int, planted: list[Planted]) -> str:
    """Settings, generator, schema (the migration's text) and the planted documents."""
    digest = hashlib.sha256()
    digest.update(json.dumps([VERSION, size, asdict(settings)], sort_keys=True).encode())
    digest.update((ROOT / "migrations/versions/0002_dedup_index.py").read_bytes())
    for p in planted:
        digest.update(f"{p.kind}\0{p.title}\0{p.text}\0{p.days_before_end}\0".encode())
    return digest.hexdigest()[:16]


def sql_time(when: datetime | None) -> str | None:
    """The text SQLAlchemy's DateTime writes to SQLite (naive UTC)."""
    if when is None:
        return None
    return when.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


class Vocabulary:
    """Term strings with their general rarity, and how to draw them."""

    def __init__(
        self, real: Counter[str], weights: dict[str, float], texts: int, rng: np.random.Generator
    ) -> None:
        from wordfreq import top_n_list

        terms = dict.fromkeys(real)
        # The long tail: English words of rarity >= 3 (the extractor's `rare_rarity`).
        tail = [w for w in top_n_list("en", 300_000)[5000:] if w.isalpha() and len(w) > 2]
        terms.update(dict.fromkeys(tail))
        numbers = [str(y) for y in range(1990, 2027)] + [str(n) for n in range(1, 1000)]
        numbers += [f"{rng.integers(1, 100)}.{rng.integers(0, 100):02d}" for _ in range(5000)]
        terms.update(dict.fromkeys(numbers))
        names = [t for t in real if " " not in t and not any(c.isdigit() for c in t)]
        pairs = {f"{names[i]} {numbers[j]}" for i, j in self._pairs(len(names), rng)}
        terms.update(dict.fromkeys(sorted(pairs)))
        self.terms: list[str] = list(terms)
        self.weight = np.asarray([self._weight(t, weights) for t in self.terms])
        share = np.asarray([self._share(t, real, texts) for t in self.terms])
        self.p = share / share.sum()

    @staticmethod
    def _pairs(count: int, rng: np.random.Generator) -> list[tuple[int, int]]:
        return [(int(rng.integers(count)), int(rng.integers(37))) for _ in range(20_000)]

    @staticmethod
    def _share(term: str, real: Counter[str], texts: int) -> float:
        """The share of news documents using `term`: as in the real texts for the topical
        terms (those in 3 or more of them), else from its English frequency (a Zipf-4 word is
        in about 0.5% of 500-word documents); a name with a number is rarer still."""
        if real.get(term, 0) >= 3:
            return real[term] / texts
        name, _, value = term.partition(" ")
        share = 10 ** (ZIPF_TOP - general_rarity(name or term) - DOC_ZIPF)
        return 0.01 * share if value else share

    @staticmethod
    def _weight(term: str, real: dict[str, float]) -> float:
        if term in real:
            return real[term]
        name, _, value = term.partition(" ")
        if value:
            return max(general_rarity(name), 3.0) + 1.0
        if any(c.isdigit() for c in term):
            return min(general_rarity(term), 3.0) + 1.0
        return general_rarity(term)


def _unit(x: np.ndarray) -> np.ndarray:
    unit: np.ndarray = x / np.linalg.norm(x, axis=-1, keepdims=True)
    return unit


def _pack(vectors: np.ndarray) -> np.ndarray:
    """`embed.pack` over (n, 2, dim): each vector scaled to +-127 by its own peak."""
    peak = np.abs(vectors).max(axis=2, keepdims=True)
    packed: np.ndarray = np.round(vectors * (127.0 / peak)).astype(np.int8)
    return packed


class Corpus1:
    """Term ids, stories and copies of every synthetic document (the first pass)."""

    def __init__(self, size: int, vocab: Vocabulary, rng: np.random.Generator) -> None:
        self.size = size
        window = max(1, size // 365 * 2)  # a story is covered over about two days
        self.story = (np.arange(size) + rng.integers(0, window, size)) // STORY_DOCS
        stories = int(self.story.max()) + 1
        pools = rng.choice(len(vocab.terms), size=(stories, 40), p=vocab.p)
        fresh = rng.choice(len(vocab.terms), size=(size, 56), p=vocab.p)
        lengths = rng.integers(40, 81, size)  # 300-1,500 words give 40 to 80 (the cap)
        self.copy_of = np.full(size, -1)
        copies = np.flatnonzero(rng.random(size) < NEAR_SHARE)
        copies = copies[copies > 300]
        self.copy_of[copies] = copies - rng.integers(1, 300, len(copies))
        self.terms: list[np.ndarray] = []
        for i in range(size):
            if self.copy_of[i] >= 0:
                self.terms.append(self.terms[self.copy_of[i]])
                continue
            pool = pools[self.story[i]]
            mine = np.concatenate([pool[rng.permutation(40)[:24]], fresh[i]])
            _, first = np.unique(mine, return_index=True)
            self.terms.append(mine[np.sort(first)][: lengths[i]])
        self.df = np.bincount(np.concatenate(self.terms), minlength=len(vocab.terms))


def _planted_positions(
    size: int, planted: list[Planted], features: list[Features]
) -> dict[int, tuple[int, Planted, Features]]:
    """Where each planted document goes (0-based): seed sections first, articles at their
    time. Returns position -> (index in `planted`, document, its features)."""
    ids: dict[int, tuple[int, Planted, Features]] = {}
    for n, (p, f) in enumerate(zip(planted, features, strict=True)):
        if p.days_before_end is None:
            ids[len(ids)] = (n, p, f)
    for n, (p, f) in enumerate(zip(planted, features, strict=True)):
        if p.days_before_end is not None:
            at = int(size * (1.0 - p.days_before_end / 365.0))
            while at in ids:
                at -= 1
            ids[at] = (n, p, f)
    return ids


def build(path: Path, size: int, planted: list[Planted], settings: DedupSettings) -> dict[str, Any]:
    """Write the index of `size` documents (planted ones included) to `path`."""
    started = time.perf_counter()
    rng = np.random.default_rng(size)
    real_features = [extract_features(p.title, p.text, settings, p.published) for p in planted]
    real: Counter[str] = Counter()
    weights: dict[str, float] = {}
    for f in real_features:
        real.update(f.event.keys())
        weights.update(f.event)
    vocab = Vocabulary(real, weights, len(planted), rng)
    first = Corpus1(size, vocab, rng)
    at = _planted_positions(size, planted, real_features)
    df: Counter[str] = Counter()
    for _, _, f in at.values():
        df.update(f.event.keys())
    counts = {t: int(c) for t, c in zip(vocab.terms, first.df, strict=True) if c}
    for i in at:  # replaced documents do not count
        for t in first.terms[i]:
            counts[vocab.terms[t]] -= 1
    for term, c in df.items():
        counts[term] = counts.get(term, 0) + c
    counts = {t: c for t, c in counts.items() if c > 0}
    corpus = Corpus(size, counts, settings.corpus_prior_docs)
    rarity = np.asarray(
        [corpus.rarity(t, float(w), 1) for t, w in zip(vocab.terms, vocab.weight, strict=True)]
    )
    centroids = np.stack([np.frombuffer(f.embedding, np.int8)[:DIM] for f in real_features])
    stories = int(first.story.max()) + 1
    plan = _Plan(
        first=first,
        vocab=vocab,
        rarity=rarity,
        corpus=corpus,
        at=at,
        settings=settings,
        base=_unit(centroids.astype(np.float32))[rng.integers(0, len(planted), stories)]
        + 0.8 * _unit(rng.normal(size=(stories, DIM)).astype(np.float32)),
    )
    generated = time.perf_counter()

    tmp = path.with_suffix(".building")
    for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        leftover.unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{tmp}")
    migrate(engine)
    engine.dispose()
    con = sqlite3.connect(tmp, isolation_level=None)
    con.execute("PRAGMA journal_mode=OFF")  # a failed build is thrown away, never resumed
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-1000000")
    ddl = con.execute(
        "SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL"
        " AND tbl_name LIKE 'dedup_%'"
    ).fetchall()
    for name, _ in ddl:  # rebuilt after the load: one sort instead of 45M B-tree inserts
        con.execute(f"DROP INDEX {name}")
    con.execute("BEGIN")
    previous: tuple[np.ndarray, np.ndarray] | None = None
    for lo in range(0, size, CHUNK):
        previous = _write_chunk(con, plan, lo, min(size, lo + CHUNK), rng, previous)
    con.executemany("INSERT INTO dedup_df (term, df) VALUES (?, ?)", [*counts.items(), ("", size)])
    con.execute("COMMIT")
    inserted = time.perf_counter()
    for _, sql in ddl:
        con.execute(sql)
    con.execute("PRAGMA journal_mode=WAL")
    con.close()
    os.replace(tmp, path)
    done = time.perf_counter()
    return {
        "documents": size,
        "planted": len(at),
        "planted_ids": [doc_id + 1 for doc_id, _ in sorted(at.items(), key=lambda kv: kv[1][0])],
        "generate_s": round(generated - started, 1),
        "insert_s": round(inserted - generated, 1),
        "index_s": round(done - inserted, 1),
        "build_s": round(done - started, 1),
    }


@dataclass
class _Plan:
    first: Corpus1
    vocab: Vocabulary
    rarity: np.ndarray  # corpus rarity of each vocabulary term
    corpus: Corpus
    at: dict[int, tuple[int, Planted, Features]]
    settings: DedupSettings
    base: np.ndarray  # each story's direction: near a real centroid


def _write_chunk(
    con: sqlite3.Connection,
    plan: _Plan,
    lo: int,
    hi: int,
    rng: np.random.Generator,
    previous: tuple[np.ndarray, np.ndarray] | None,
) -> tuple[np.ndarray, np.ndarray]:
    n, s, first = hi - lo, plan.settings, plan.first
    signatures = rng.integers(0, 2**32, size=(n, s.num_perm), dtype=np.uint64)
    base = plan.base[first.story[lo:hi]]
    noise = _unit(rng.normal(size=(n, 2, DIM)).astype(np.float32))
    vectors = _unit(np.stack([base + 0.5 * noise[:, 0], base + 0.9 * noise[:, 1]], axis=1))
    span = YEAR.total_seconds() / first.size
    docs: list[tuple[Any, ...]] = []
    terms: list[tuple[str, int]] = []
    bands: list[tuple[int, int]] = []
    for k in range(n):
        i = lo + k
        j = int(first.copy_of[i])
        if j >= 0:  # a syndicated copy: most MinHash values and the lead are the same
            src_sig, src_vec = _source(j, lo, signatures, vectors, previous)
            keep = rng.random(s.num_perm) > 0.08
            signatures[k][keep] = src_sig[keep]
            vectors[k] = _unit(src_vec + 0.05 * noise[k])
        doc_id = i + 1
        planted = plan.at.get(i)
        if planted is not None:
            _, p, f = planted
            docs.append(_planted_row(doc_id, p, f))
            chosen = _rarest(plan.corpus.weigh(f.event, [f.event]), s.index_terms)
            keys = band_keys(f.signature, s.band_rows)
        else:
            ids = first.terms[i]
            event = {plan.vocab.terms[t]: float(plan.vocab.weight[t]) for t in ids}
            top = ids[np.argsort(-plan.rarity[ids], kind="stable")[: s.index_terms]]
            chosen = [plan.vocab.terms[t] for t in top]
            when = START + timedelta(seconds=i * span + float(rng.integers(0, 600)))
            words = int(rng.integers(300, 1501))
            payload = encode_payload(event, _specifics(event))
            packed = _pack(vectors[k][None])[0].tobytes()
            row = (doc_id, "article", doc_id, sql_time(when), f"{i:064x}", words - 4)
            docs.append((*row, signatures[k].tobytes(), packed, payload))
            keys = band_keys(tuple(int(v) for v in signatures[k]), s.band_rows)
        terms += [(t, doc_id) for t in chosen]
        bands += [(key, doc_id) for key in sorted(set(keys))]
    con.executemany(f"INSERT INTO dedup_doc ({_DOC_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)", docs)
    con.executemany("INSERT INTO dedup_term (term, doc_id) VALUES (?, ?)", terms)
    con.executemany("INSERT INTO dedup_band (band_key, doc_id) VALUES (?, ?)", bands)
    return signatures, vectors


def _planted_row(doc_id: int, planted: Planted, f: Features) -> tuple[Any, ...]:
    when = planted.published
    signature = np.asarray(f.signature, dtype=np.uint64).tobytes()
    payload = encode_payload(f.event, f.specifics)
    row = (doc_id, planted.kind, doc_id, sql_time(when), f.text_hash, f.shingle_count)
    return (*row, signature, f.embedding, payload)


def _specifics(event: dict[str, float]) -> dict[str, tuple[str, ...]]:
    found: dict[str, set[str]] = {}
    for term in event:
        name, _, value = term.partition(" ")
        if value:
            found.setdefault(name, set()).add(value)
    return {k: tuple(sorted(v)) for k, v in found.items()}


def _source(
    j: int,
    lo: int,
    signatures: np.ndarray,
    vectors: np.ndarray,
    previous: tuple[np.ndarray, np.ndarray] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """The signature and lead of document `j` (this chunk or the one before)."""
    if j >= lo:
        return signatures[j - lo].copy(), vectors[j - lo, 0]
    assert previous is not None
    return previous[0][j - lo].copy(), previous[1][j - lo, 0]


def _rarest(weights: dict[str, float], limit: int) -> list[str]:
    return [t for t, _ in sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]]


def open_or_build(
    size: int, planted: list[Planted], settings: DedupSettings
) -> tuple[Path, dict[str, Any]]:
    """The cached database for these settings, built first if missing."""
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"dedup-{size}-{cache_key(settings, size, planted)}.db"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        return path, {**json.loads(meta.read_text()), "cached": True}
    figures = build(path, size, planted, settings)
    meta.write_text(json.dumps(figures))
    return path, {**figures, "cached": False}
