"""The cache folder: where it is, and files that appear whole or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.cachedir import cache_dir, write_atomically


def test_cache_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITOR_CACHE_DIR", str(tmp_path / "explicit"))
    assert cache_dir() == tmp_path / "explicit"
    assert (tmp_path / "explicit").is_dir()
    monkeypatch.delenv("MONITOR_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "monitor"


def test_unusable_cache_dir_is_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("MONITOR_CACHE_DIR", str(blocker / "cache"))
    assert cache_dir() is None


def test_write_atomically_leaves_no_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "table.bin"

    def fails(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise OSError("disk full")

    assert not write_atomically(target, fails)
    assert not target.exists()
    assert list((tmp_path / "sub").iterdir()) == []
    assert write_atomically(target, lambda tmp: tmp.write_bytes(b"whole"))
    assert target.read_bytes() == b"whole"
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["table.bin"]
