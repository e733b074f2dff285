"""Files derived from a model's packaged files (weights unpacked, a graph rewritten), built once
per machine into the cache folder (`monitor.cachedir`) and checked at every read: each has
its sha256 in a file beside it, so a damaged, truncated or half-replaced file is built
again, never read. The name says what a file was built from (the source's sha256) and how
(the format and package versions): another source gets a file of its own (two models in
use on one machine keep theirs), another version replaces the older file of its source."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from pathlib import Path

from monitor.cachedir import cache_dir, write_atomically


def cached_file(
    stem: str, source: str, version: str, suffix: str, write: Callable[[Path], None]
) -> Path | None:
    """The file `{stem}-{source}-{version}{suffix}` in the cache folder, checked or
    (re)built by `write(tmp)`; None without a usable cache folder (the caller then builds
    in memory)."""
    folder = cache_dir()
    if folder is None:
        return None
    path = folder / f"{stem}-{source}-{version}{suffix}"
    stamp = path.with_name(path.name + ".sha256")
    try:
        if stamp.read_text(encoding="ascii").strip() == file_sha256(path):
            return path
    except OSError:
        pass
    if not write_atomically(path, write):
        return None
    try:
        digest = file_sha256(path)  # of the file as written, read back
    except OSError:
        return None

    def write_stamp(tmp: Path) -> None:
        tmp.write_text(digest + "\n", encoding="ascii")

    if not write_atomically(stamp, write_stamp):
        return None
    for old in folder.glob(f"{stem}-{source}-*"):
        if old.name not in {path.name, stamp.name} and not old.name.startswith("."):
            with contextlib.suppress(OSError):
                old.unlink()  # a process that mapped it keeps reading it until it unmaps
    return path


def file_sha256(path: Path) -> str:
    """The sha256 of the file at `path`, read in chunks (hex)."""
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()
