"""Word tables kept in the cache folder: built once, mapped by every later process and run,
built again when damaged or when wordfreq changes, built in memory without a cache."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import wordfreq
from filelock import FileLock

from monitor.dedup import wordtable
from monitor.dedup.wordtable import WordFrequencies, cached_table_path, word_hash, word_lists

LANGUAGE = "id"  # the smallest list: about 30,000 words


@cache
def _listed(language: str) -> dict[str, int]:
    """Each word of wordfreq's list and its bucket (centibels), as wordfreq reads them."""
    pack = wordfreq.get_frequency_list(language)
    return {word: index for index, bucket in enumerate(pack) for word in bucket}


def _assert_wordfreqs(table: WordFrequencies, language: str = LANGUAGE) -> None:
    for word, index in _listed(language).items():
        assert table.centibels(word) == index, word
    assert table.centibels("qwxzyv-not-a-word") is None


def _tables(folder: Path, language: str = LANGUAGE) -> list[Path]:
    return sorted((folder / "wordfreq").glob(f"{language}-*.npy"))


def _no_unpacking(monkeypatch: pytest.MonkeyPatch) -> None:
    def unpack(source: str) -> None:
        raise AssertionError(f"{source} unpacked: the cached table was not read")

    _listed(LANGUAGE)  # wordfreq's own reading, before it is taken away
    monkeypatch.setattr(wordfreq, "read_cBpack", unpack)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("MONITOR_CACHE_DIR", str(folder))
    return folder


def test_the_hash_is_stable() -> None:
    # The tables on disk hold these values: a change of hash needs a new wordtable._FORMAT.
    assert word_hash("the") == 3331141520948189790
    assert word_hash("straße") == -8550434731599635614
    assert word_hash("\udcff") == word_hash("\udcff")  # lone surrogates hash too


def test_a_table_built_by_one_process_is_mapped_by_the_next(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build = f"from monitor.dedup.wordtable import WordFrequencies; WordFrequencies({LANGUAGE!r})"
    # Another process, with another seed for Python's own string hash.
    env = os.environ | {"PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", build], env=env, check=True, timeout=120)
    [table] = _tables(cache)
    written = table.stat()
    _no_unpacking(monkeypatch)
    _assert_wordfreqs(WordFrequencies(LANGUAGE))
    subprocess.run([sys.executable, "-c", build], env=env, check=True, timeout=120)
    assert _tables(cache) == [table]
    assert (table.stat().st_ino, table.stat().st_mtime_ns) == (written.st_ino, written.st_mtime_ns)


def test_a_process_waits_for_the_one_building_the_table(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    WordFrequencies(LANGUAGE)
    [table] = _tables(cache)
    aside = table.rename(tmp_path / "built.npy")
    # The other process may not unpack the list: it must wait for this one's table.
    wait = (
        "import wordfreq\n"
        "def unpack(source): raise SystemExit('unpacked instead of waiting')\n"
        "wordfreq.read_cBpack = unpack\n"
        "from monitor.dedup.wordtable import WordFrequencies\n"
        f"table = WordFrequencies({LANGUAGE!r})\n"
        "print(table.centibels('dan'))\n"
    )
    with FileLock(table.with_suffix(".lock")):  # as a building process holds it
        other = subprocess.Popen([sys.executable, "-c", wait], stdout=subprocess.PIPE, text=True)
        time.sleep(1.0)
        assert other.poll() is None  # waiting
        aside.rename(table)  # built
    out, _ = other.communicate(timeout=60)
    assert other.returncode == 0
    assert int(out) == _listed(LANGUAGE)["dan"]


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garbage(path: Path) -> None:
    path.write_bytes(b"not a table at all\n" * 100)


def _other_array(path: Path) -> None:
    with path.open("wb") as out:
        np.save(out, np.arange(1000, dtype=np.float64))


def _unsorted(path: Path) -> None:
    raw = np.load(path)
    words = raw.size // 10
    raw[: 8 * words] = raw[: 8 * words].view(np.int64)[::-1].copy().view(np.uint8)
    with path.open("wb") as out:
        np.save(out, raw)


@pytest.mark.parametrize("damage", [_empty, _truncated, _garbage, _other_array, _unsorted])
def test_a_damaged_table_is_built_again(
    cache: Path, monkeypatch: pytest.MonkeyPatch, damage: object
) -> None:
    WordFrequencies(LANGUAGE)
    [table] = _tables(cache)
    assert callable(damage)
    damage(table)
    _assert_wordfreqs(WordFrequencies(LANGUAGE))
    # Replaced by a whole table, which the next process maps.
    _no_unpacking(monkeypatch)
    _assert_wordfreqs(WordFrequencies(LANGUAGE))
    assert _tables(cache) == [table]


def test_without_a_cache_folder_the_table_is_built_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("MONITOR_CACHE_DIR", str(blocker / "cache"))
    assert cached_table_path(LANGUAGE, word_lists()[LANGUAGE]) is None
    _assert_wordfreqs(WordFrequencies(LANGUAGE))
    assert sorted(tmp_path.iterdir()) == [blocker]


def test_a_changed_wordfreq_file_gets_a_new_table(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / Path(word_lists()[LANGUAGE]).name
    shutil.copyfile(word_lists()[LANGUAGE], source)
    monkeypatch.setattr(wordtable, "word_lists", lambda: {LANGUAGE: str(source)})
    WordFrequencies(LANGUAGE)
    [old] = _tables(cache)
    mtime = source.stat().st_mtime_ns
    os.utime(source, ns=(mtime, mtime + 10**9))
    _assert_wordfreqs(WordFrequencies(LANGUAGE))
    assert len(_tables(cache)) == 2
    # The older table stays for another installation that still has the older file.
    os.utime(source, ns=(mtime, mtime))
    _no_unpacking(monkeypatch)
    _assert_wordfreqs(WordFrequencies(LANGUAGE))
    assert old in _tables(cache)
    assert len(_tables(cache)) == 2


def test_tables_of_other_languages_are_their_own(cache: Path) -> None:
    WordFrequencies(LANGUAGE)
    table = WordFrequencies("ru")
    assert len(_tables(cache)) == 1
    assert len(_tables(cache, "ru")) == 1
    assert table.centibels("москва") == _listed("ru")["москва"]
