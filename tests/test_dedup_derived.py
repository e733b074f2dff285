"""Derived files in the cache folder: built once (by one of the processes that start
together), checked at every read (a stat once the file has settled), rebuilt when damaged,
older versions removed, nothing without a cache folder."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitor.dedup import derived
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


def test_a_file_unchanged_since_it_was_hashed_is_read_without_hashing(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(derived, "_SETTLED_NS", 0)  # no wait for the file to settle

    def never(tmp: Path) -> None:
        raise AssertionError("built again")

    path = cached_file("model", "abc", "1", ".bin", lambda tmp: tmp.write_bytes(b"weights"))
    assert path is not None
    stamp = path.with_name(path.name + ".sha256")
    seen = path.with_name(path.name + ".seen")
    assert not seen.exists()  # just built: hashed, not yet settled
    time.sleep(0.05)  # past a filesystem clock tick
    assert cached_file("model", "abc", "1", ".bin", never) == path  # hashed; identity recorded
    digest = stamp.read_text().strip()
    assert stamp.read_text() == digest + "\n"  # the stamp older versions read, unchanged
    assert seen.read_text().split()[:3] == [digest, "7", str(path.stat().st_ino)]
    hashed: list[Path] = []
    monkeypatch.setattr(derived, "file_sha256", lambda p: hashed.append(p) or "0" * 64)
    assert cached_file("model", "abc", "1", ".bin", never) == path
    assert hashed == []  # a stat, no hash


@pytest.mark.parametrize("damage", ["flip", "replace", "touch"])
def test_a_file_changed_after_its_identity_was_recorded_is_hashed_again(
    folder: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    monkeypatch.setattr(derived, "_SETTLED_NS", 0)
    path = cached_file("model", "abc", "1", ".bin", lambda tmp: tmp.write_bytes(b"weights"))
    assert path is not None
    time.sleep(0.05)
    assert cached_file("model", "abc", "1", ".bin", lambda tmp: tmp.write_bytes(b"x")) == path
    time.sleep(0.05)  # the change gets a later ctime than the one recorded
    if damage == "flip":  # same size, same inode, mtime set back: only the ctime tells
        before = path.stat()
        with path.open("r+b") as file:
            file.write(b"W")
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    elif damage == "replace":
        other = path.with_name("other")
        other.write_bytes(b"weighs!")
        other.replace(path)
    else:  # the same bytes, only the times changed: hashed, kept, not built again
        os.utime(path)
    builds: list[int] = []
    again = cached_file(
        "model", "abc", "1", ".bin", lambda tmp: builds.append(tmp.write_bytes(b"weights"))
    )
    assert again == path and path.read_bytes() == b"weights"
    assert len(builds) == (0 if damage == "touch" else 1)


def test_processes_that_start_together_build_once(folder: Path, tmp_path: Path) -> None:
    log = tmp_path / "builds"
    build = (
        "import time\n"
        "from pathlib import Path\n"
        "from monitor.dedup.derived import cached_file\n"
        "def write(tmp):\n"
        f"    with open({str(log)!r}, 'a') as log:\n"
        "        log.write('built\\n')\n"
        "    time.sleep(0.5)\n"
        "    tmp.write_bytes(b'weights')\n"
        "path = cached_file('model', 'abc', '1', '.bin', write)\n"
        "print(Path(path).read_bytes().decode())\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", build], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outs = [proc.communicate(timeout=120)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0]
    assert outs == ["weights\n"] * 3
    assert log.read_text() == "built\n"
    assert sorted(p.name for p in folder.iterdir()) == ["model-abc-1.bin", "model-abc-1.bin.sha256"]
