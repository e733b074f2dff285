"""One language's wordfreq list as a compact table (each word's stable 64-bit hash, sorted, and
its frequency), built once per machine into the cache folder and read back with mmap: every
process of every run shares one copy in the page cache instead of unpacking wordfreq's file."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cache
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from monitor.dedup.derived import cached_file, derived_path, stat_key

# Bumped whenever the file's layout or the hash changes: the old files are then not read.
_FORMAT = "1"
_HASH = np.dtype("<i8")
_CENTIBELS = np.dtype("<u2")
_WIDTH = _HASH.itemsize + _CENTIBELS.itemsize  # bytes a word


def word_hash(word: str) -> int:
    """The table's key for a word: the same in every process and every run (Python's `hash`
    of a string is not). Lone surrogates (undecodable bytes kept in a text) hash too."""
    digest = hashlib.blake2b(word.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


class WordFrequencies:
    """One language's wordfreq list, as compact as it can be looked up: each word's hash
    (sorted, int64) and its frequency in centibels below 1 (uint16), 10 bytes a word.

    wordfreq's own `get_frequency_dict` builds a dict of every word (up to 700,000 strings)
    in every process that meets the language: for English, German, Russian, Portuguese,
    Italian and French 297 MB and 1.8 s of CPU. Building one of these tables takes up to
    about 1 s of CPU (Russian the most: unpacking wordfreq's file into strings, then hashing
    each), so each is built once per machine and kept in the cache folder
    (`derived`), keyed by its source file; a process then maps it in about a millisecond
    (checking its stamp) and shares its pages with every other process. Without a usable
    cache folder the table is built in memory, in every process."""

    def __init__(self, language: str) -> None:
        source = word_lists()[language]
        built: list[tuple[Any, Any]] = []

        def write(tmp: Path) -> None:
            built.append(_build(source))
            _write(tmp, *built[0])

        key = stat_key(Path(source))
        path = cached_file(f"wordfreq/{language}", key, _FORMAT, ".npy", write) if key else None
        tables = built[0] if built else _read(path) if path is not None else None
        if tables is None:
            tables = _build(source)
        self._hashes, self._centibels = tables

    def centibels(self, word: str) -> int | None:
        """How far below a frequency of 1 the word is, in centibels; None if unlisted."""
        key = word_hash(word)
        at = int(self._hashes.searchsorted(key))
        if at < len(self._hashes) and int(self._hashes[at]) == key:
            return int(self._centibels[at])
        return None


@cache
def word_lists() -> dict[str, str]:
    """wordfreq's file of each language it has a list for (its "best" list)."""
    from wordfreq import available_languages

    return dict(available_languages())


def cached_table_path(language: str, source: str) -> Path | None:
    """Where the table of `language` built from `source` is kept (`derived`); None without
    a cache folder. The name changes with the file's name, size and mtime (installing
    another wordfreq writes its files anew), so an upgrade gets a new table, never an older
    one. (Not wordfreq's version: reading a package's metadata takes tens of milliseconds;
    not the file's sha256: hashing the lists in every process costs what the table saves.)
    Tables of other wordfreq files are left in place: another installation on the machine
    (a second virtualenv) may still read them; they go with the cache folder. (A table of
    an older `_FORMAT` of the same file is removed.)"""
    key = stat_key(Path(source))
    return derived_path(f"wordfreq/{language}", key, _FORMAT, ".npy") if key else None


def _build(source: str) -> tuple[Any, Any]:
    from wordfreq import read_cBpack

    # Read directly: wordfreq's get_frequency_list keeps every word in memory.
    pack: Sequence[Sequence[str]] = read_cBpack(source)
    sizes = [len(bucket) for bucket in pack]
    blake2b = hashlib.blake2b  # `word_hash` inlined: most of the build's time
    digests = [
        blake2b(word.encode("utf-8", "surrogatepass"), digest_size=8).digest()
        for word in chain.from_iterable(pack)
    ]
    hashes = np.frombuffer(b"".join(digests), _HASH)
    centibels = np.repeat(np.arange(len(pack), dtype=_CENTIBELS), sizes)
    order = np.argsort(hashes)
    hashes, centibels = hashes[order], centibels[order]
    # A word listed twice keeps its last bucket, as in wordfreq's dict: the buckets come in
    # order, so the last is the highest.
    first = np.flatnonzero(np.append(True, hashes[1:] != hashes[:-1]))
    return hashes[first], np.maximum.reduceat(centibels, first) if len(first) else centibels


def _write(tmp: Path, hashes: Any, centibels: Any) -> None:
    # One .npy of bytes: the hashes, then the centibels (np.load maps only a plain array).
    raw = np.concatenate([hashes.view(np.uint8), centibels.view(np.uint8)])
    with tmp.open("wb") as out:  # a path would get ".npy" appended
        np.save(out, raw, allow_pickle=False)


def _read(path: Path) -> tuple[Any, Any] | None:
    """The table in `path` (checked by `derived`), mapped; None if it is not a table."""
    try:
        raw = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if raw.dtype != np.uint8 or raw.ndim != 1 or raw.size % _WIDTH or not raw.size:
        return None
    raw = np.asarray(raw)  # a plain array over the mapping: numpy's memmap class is slower
    words = raw.size // _WIDTH
    return raw[: words * _HASH.itemsize].view(_HASH), raw[words * _HASH.itemsize :].view(_CENTIBELS)
