"""Thresholds and limits of the dedup matcher: the `[dedup]` table of config.toml."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DedupSettings:
    # Score (0-1) at or above which two write-ups are called the same story; tuned on
    # the labelled pairs (see `make eval`) for a false-positive rate of about 3%.
    same_story_threshold: float = 0.35
    # Share of the shorter text's shingles found in the longer one that makes a near copy.
    near_threshold: float = 0.7
    # Words per shingle for the near-copy layer.
    shingle_words: int = 5
    # MinHash permutations per document (more = finer near-copy estimates, bigger index).
    num_perm: int = 64
    # MinHash values per LSH band key (fewer = more candidates for lower resemblance).
    band_rows: int = 3
    # Words at the start of a text (after the title) that make its "lead".
    lead_words: int = 40
    # Words whose Zipf frequency (wordfreq, English) is below this count as rare event terms.
    rare_zipf: float = 4.0
    # Rarest terms of each document written to the inverted index.
    index_terms: int = 24
    # Rarest terms of a new document looked up in the inverted index.
    query_terms: int = 12
    # Most recent postings read per looked-up term: caps the work on a popular term.
    max_postings: int = 200
    # Candidates scored in full per new document (the best by shared rare terms).
    max_candidates: int = 25
    # Candidates with a publication time further than this many days away are skipped;
    # documents without a time (the seed corpus) are always eligible.
    window_days: float = 14.0
    # Highest-weighted terms kept per document for the body similarity.
    body_terms: int = 150
