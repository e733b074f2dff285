"""Derived model files in the cache folder: built once, checked at every read, rebuilt when
damaged, older versions removed, nothing without a cache folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.dedup.derived import cached_file


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MONITOR_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_a_file_is_built_once_then_read(folder: Path) -> None:
    builds: list[Path] = []

    def write(tmp: Path) -> None:
        builds.append(tmp)
        tmp.write_bytes(b"weights")

    path = cached_file("model", "abc", "1", ".bin", write)
    assert path == folder / "model-abc-1.bin"
    assert path.read_bytes() == b"weights"
    assert cached_file("model", "abc", "1", ".bin", write) == path
    assert len(builds) == 1


@pytest.mark.parametrize("damage", ["flip", "truncate", "stamp", "no stamp"])
def test_a_damaged_file_is_built_again(folder: Path, damage: str) -> None:
    path = cached_file("model", "abc", "1", ".bin", lambda tmp: tmp.write_bytes(b"weights"))
    assert path is not None
    stamp = path.with_name(path.name + ".sha256")
    if damage == "flip":
        path.write_bytes(b"weighs!")
    elif damage == "truncate":
        path.write_bytes(b"weig")
    elif damage == "stamp":
        stamp.write_text("0" * 64)
    else:
        stamp.unlink()
    builds = []
    again = cached_file(
        "model", "abc", "1", ".bin", lambda tmp: builds.append(tmp.write_bytes(b"weights"))
    )
    assert again == path
    assert builds and path.read_bytes() == b"weights"


def test_another_version_replaces_the_older_file_of_its_source(folder: Path) -> None:
    old = cached_file("model", "abc", "1", ".bin", lambda tmp: tmp.write_bytes(b"old"))
    other = cached_file("other", "abc", "1", ".bin", lambda tmp: tmp.write_bytes(b"other"))
    another_source = cached_file("model", "def", "1", ".bin", lambda tmp: tmp.write_bytes(b"b"))
    new = cached_file("model", "abc", "2", ".bin", lambda tmp: tmp.write_bytes(b"new"))
    assert old is not None and other is not None and new is not None and another_source
    names = sorted(p.name for p in folder.iterdir())
    assert names == [
        "model-abc-2.bin",
        "model-abc-2.bin.sha256",
        "model-def-1.bin",
        "model-def-1.bin.sha256",
        "other-abc-1.bin",
        "other-abc-1.bin.sha256",
    ]


def test_no_cache_folder_builds_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("MONITOR_CACHE_DIR", str(blocker / "cache"))
    assert cached_file("model", "abc", "1", ".bin", lambda tmp: tmp.write_bytes(b"x")) is None
