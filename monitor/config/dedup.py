"""Thresholds, weights and limits of the dedup matcher: the `[dedup]` table of config.toml."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any


@dataclass(frozen=True)
class DedupSettings:
    # Same-story score at or above which two write-ups in one language are one story;
    # chosen by cross-validation on the labelled pairs of every language
    # (eval/eval_dedup_groups.py) for a false-positive rate <= 3%.
    same_story_threshold: float = 0.73
    # The same for two texts in different languages (their cosines run lower).
    cross_language_threshold: float = 0.58
    # The score adds: the cosine of the two leads' embeddings times this weight,
    weight_lead: float = 0.7
    # ... the cosine of the embeddings of the leads' heads (mostly the headlines) times this,
    weight_head: float = 0.3
    # ... the rarity-weighted share of names, versions and numbers in common times this,
    weight_event: float = 0.45
    # ... and the share of specifics both give that differ (another version, quarter,
    # date) times this.
    weight_conflict: float = -0.5
    # Share of rare names and numbers in common below which two texts are never one story,
    # whatever their embeddings say (0 = no such floor).
    min_event: float = 0.0
    # Words (word pieces for minilm and static) at the start of the lead, with the title,
    # whose embedding is the "head".
    head_tokens: int = 16
    # Share of the shorter text's shingles found in the longer one that makes a near copy.
    near_threshold: float = 0.7
    # Words per shingle for the near-copy layer.
    shingle_words: int = 5
    # MinHash permutations per document (more = finer near-copy estimates, bigger index).
    num_perm: int = 64
    # MinHash values per LSH band key (fewer = more candidates for lower resemblance).
    band_rows: int = 3
    # Words of the text after the title that make its lead (the part that is embedded).
    lead_words: int = 100
    # What embeds the leads: "muse" (the multilingual Universal Sentence Encoder v3 in
    # numpy: 16 languages, Chinese-English pairs too), "minilm" (all-MiniLM-L6-v2 on
    # onnxruntime: English only, the best English figures) or "static" (a table distilled
    # from MiniLM: English only, 0.3 ms an article). Pairs in a language the embedder does
    # not read are compared only as exact or near copies. Each has its own tuned
    # thresholds and weights (TUNED below), which apply unless set. Vectors of two
    # embedders never compare: after a change on a database in use, run `monitor reindex`.
    embedder: str = "muse"
    # What embeds the leads of two English texts that share many rare names and numbers
    # (at least `english_min_event`, below; "" = `embedder` for every pair). "minilm" reads
    # English better than muse but also links more same-topic stories, so it judges only
    # English pairs with much evidence of one event in common: make eval, en-en F1 0.81 ->
    # 0.84 at FPR <= 3% (2.2%), the topical stream unchanged (0 stories hidden). It costs about
    # 60 ms a lead against 12, paid only for the pairs the cascade leaves. Those pairs are
    # scored with that embedder's tuned settings (TUNED below), and each English document
    # keeps a second vector.
    english_embedder: str = "minilm"
    # The share of rare names and numbers in common (as `min_event`) from which two English
    # texts are judged by `english_embedder`. At 0.2 and below MiniLM hides same-topic
    # stories of the topical stream (eval/eval_dedup_groups.py); 0.25 to 0.4 keep the
    # stream and the en-en gain, and 0.4 also keeps a same-company announcement with a
    # third of its names in common apart (tests/test_dedup_score.py).
    english_min_event: float = 0.4
    # Folder to embed with ("" = the packaged files): sp.model and weights.npz for muse,
    # model.onnx and tokenizer.json for minilm, embeddings.npy and tokenizer.json for static.
    model_dir: str = ""
    # Threads the model may use (1 leaves the other cores to extraction).
    model_threads: int = 1
    # Rarity (7 - Zipf frequency in English) from which any word counts as an event term.
    rare_rarity: float = 3.0
    # Event terms kept per document (the rarest).
    event_terms: int = 80
    # Pseudo-documents in the corpus-frequency estimate: a small corpus weighs little.
    corpus_prior_docs: float = 1000.0
    # Rarest terms of each document written to the inverted index.
    index_terms: int = 24
    # Rarest terms of a new document looked up in the inverted index.
    query_terms: int = 12
    # Most recent postings read per looked-up term: caps the work on a popular term.
    max_postings: int = 200
    # Candidates scored in full per new document (the best by shared rare terms).
    max_candidates: int = 25
    # The cascade: the matcher loads and runs the embedder only for a candidate whose score
    # could still reach the threshold with the two cosines (lead and head, weighted) at this
    # ceiling, given the names and numbers the two share and the specifics that differ;
    # every other candidate is "new" without embedding either lead. Chosen on the labelled
    # pairs (eval/eval_dedup_groups.py prints what it changes) so that no pair the full
    # model calls the same story is ruled out: two write-ups of one event in one language
    # share some names or numbers. 1 = rule out only what no cosine could save (exact).
    cosine_ceiling: float = 0.7
    # The same for two texts in different languages, which share few terms (Chinese and
    # English only numbers and Latin names): their cosines stayed under 0.82 in the pairs.
    cross_language_cosine_ceiling: float = 0.85
    # Candidates with a publication time further than this many days away are skipped;
    # documents without a time (the seed corpus) are always eligible.
    window_days: float = 14.0

    def __post_init__(self) -> None:
        if self.embedder not in ("muse", "minilm", "static"):
            raise ValueError(f"embedder must be muse, minilm or static, not {self.embedder!r}")
        if self.english_embedder not in ("", "muse", "minilm", "static"):
            raise ValueError(
                "english_embedder must be muse, minilm, static or empty, "
                f"not {self.english_embedder!r}"
            )

    @property
    def routes_english(self) -> bool:
        """Whether pairs of English texts are judged by another embedder than the rest."""
        return self.english_embedder not in ("", self.embedder)


# The settings each embedder was tuned with (eval/eval_dedup_groups.py, eval/eval_dedup.py
# --fit), where they differ from the defaults above (which suit muse). MiniLM and the static
# table read English only; the static table reads no context, so its scores sit higher for
# unrelated texts, and its head weighs word pieces by exp(-position / head_tokens).
TUNED: dict[str, dict[str, float | int | str]] = {
    "muse": {},
    "minilm": {
        "english_embedder": "",
        "same_story_threshold": 0.55,
        "cosine_ceiling": 1.0,
        "cross_language_cosine_ceiling": 1.0,
        "weight_lead": 0.5,
        "weight_head": 0.5,
        "weight_event": 0.2,
    },
    "static": {
        "english_embedder": "",  # chosen to be cheap: English pairs too
        "same_story_threshold": 0.57,
        "weight_lead": 0.5,
        "weight_head": 0.5,
        "weight_event": 0.1,
        "head_tokens": 12,
        "cosine_ceiling": 1.0,
        "cross_language_cosine_ceiling": 1.0,
    },
}
STATIC_TUNED = TUNED["static"]


def tuned_for(embedder: object) -> dict[str, float | int | str]:
    """The settings tuned for `embedder` that differ from the defaults (which suit muse)."""
    return dict(TUNED.get(str(embedder), {})) if embedder is not None else {}


@lru_cache(maxsize=8)
def english_settings(settings: DedupSettings) -> DedupSettings:
    """The settings that judge a pair of English texts: `settings` with the English
    embedder and its tuned values (`settings` itself if it routes nothing)."""
    if not settings.routes_english:
        return settings
    tuned: dict[str, Any] = dict(TUNED[settings.english_embedder])
    tuned.update(embedder=settings.english_embedder, english_embedder="", model_dir="")
    return replace(settings, **tuned)
