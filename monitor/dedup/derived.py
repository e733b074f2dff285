"""Files derived from packaged data (word tables, model weights unpacked, a graph rewritten),
built once per machine into the cache folder (`monitor.cachedir`) and checked at every read.

One mechanism for all of them:

- **Key.** A file is named `{stem}-{source}-{version}{suffix}`: what it was built from
  (`source`, a key of the source file) and how (`version`: the format and package
  versions). Another source gets a file of its own (two models, or two installations, in
  use on one machine keep theirs); another version replaces the older file of its source.
- **Lock.** The processes that start together and need the same file take turns (a file
  lock beside it): one builds, the others wait, then read its file.
- **Atomic write.** A file is written beside its name, then renamed into place: a reader
  sees the whole file or none.
- **Check.** Each file has its sha256 in a stamp beside it (`.sha256`). A read hashes the
  file and compares, unless the file still has the identity (size, inode, mtime, ctime)
  recorded beside it (`.seen`) with that sha256: a file written through the filesystem
  since it was hashed (truncated, overwritten, replaced) has a new ctime, which no program
  can set back. The identity is recorded only by a read that hashed the file at least
  `_SETTLED_NS` after its ctime, so that a change within the same clock tick as the
  recorded ctime cannot pass for the file that was hashed. A damaged file is then built
  again, never read; reading a large file (mUSE's 79 MB arrays) costs a stat, not a hash.

Without a usable cache folder nothing is written and the caller builds in memory.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path

from monitor.cachedir import cache_dir, write_atomically

# How long a process waits for another building the same file (about 1 s for the largest)
# before it builds its own in memory.
_LOCK_WAIT = 30.0
# How long after its last change a file must have been when it was hashed for a read to
# trust its identity instead of hashing it (far more than a filesystem clock tick).
_SETTLED_NS = 1_000_000_000


def derived_path(stem: str, source: str, version: str, suffix: str) -> Path | None:
    """Where the file built from `source` by `version` is kept; None without a cache folder.
    `stem` may name a subfolder (`wordfreq/en`)."""
    folder = cache_dir()
    if folder is None:
        return None
    return folder / f"{stem}-{source}-{version}{suffix}"


def cached_file(
    stem: str, source: str, version: str, suffix: str, write: Callable[[Path], None]
) -> Path | None:
    """The file `{stem}-{source}-{version}{suffix}` in the cache folder, checked or (re)built
    by `write(tmp)` (one process at a time); None without a usable cache folder or when
    another process held the lock too long (the caller then builds in memory)."""
    path = derived_path(stem, source, version, suffix)
    if path is None:
        return None
    if _checked(path):
        return path
    from filelock import FileLock, Timeout  # 50 ms to import: only when building

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(_lock(path), timeout=_LOCK_WAIT):
            try:
                if _checked(path):  # built while this process waited
                    return path
                if not write_atomically(path, write) or not _stamp(path, file_sha256(path)):
                    return None
            finally:
                # Removed while held (a waiter that then locks the removed file locks
                # again): the folder keeps only the derived files and their stamps.
                _lock(path).unlink(missing_ok=True)
    except (Timeout, OSError):
        return None
    for old in path.parent.glob(f"{path.name[: -len(version + suffix)]}*"):
        if old.name not in _own(path) and not old.name.startswith("."):
            with contextlib.suppress(OSError):
                old.unlink()  # a process that mapped it keeps reading it until it unmaps
    return path


def file_sha256(path: Path) -> str:
    """The sha256 of the file at `path`, read in chunks (hex)."""
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def stat_key(path: Path) -> str | None:
    """A source key for a file too large to hash in every process that reads what was built
    from it (wordfreq's lists): its name, size and mtime, which installing another version
    of its package changes (pip writes the files anew). None if it cannot be read."""
    try:
        stat = path.stat()
    except OSError:
        return None
    origin = f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}"
    return hashlib.blake2b(origin.encode(), digest_size=8).hexdigest()


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _seen_path(path: Path) -> Path:
    # Apart from the stamp, whose format older versions read (a digest alone).
    return path.with_name(path.name + ".seen")


def _lock(path: Path) -> Path:
    return path.with_suffix(".lock")


def _own(path: Path) -> set[str]:
    return {path.name, _stamp_path(path).name, _seen_path(path).name, _lock(path).name}


def _identity(digest: str, stat: os.stat_result) -> str:
    fields = (stat.st_size, stat.st_ino, stat.st_mtime_ns, stat.st_ctime_ns)
    return " ".join([digest, *map(str, fields)])


def _checked(path: Path) -> bool:
    """Whether `path` is the file its stamp describes (see the module's docstring)."""
    try:
        digest = _stamp_path(path).read_text(encoding="ascii").strip()
        before = path.stat()
    except OSError:
        return False
    with contextlib.suppress(OSError):
        if _seen_path(path).read_text(encoding="ascii").strip() == _identity(digest, before):
            return True
    started = time.time_ns()
    try:
        if file_sha256(path) != digest:
            return False
        after = path.stat()
    except OSError:
        return False
    settled = started - after.st_ctime_ns > _SETTLED_NS
    if settled and _identity(digest, after) == _identity(digest, before):
        # The next reads trust the identity (if it can be written).
        line = _identity(digest, after) + "\n"
        write_atomically(_seen_path(path), lambda tmp: _write_text(tmp, line))
    return True


def _stamp(path: Path, digest: str) -> bool:
    """Write the stamp of `path`, its sha256, as built (not yet settled)."""
    _seen_path(path).unlink(missing_ok=True)
    return write_atomically(_stamp_path(path), lambda tmp: _write_text(tmp, digest + "\n"))


def _write_text(tmp: Path, text: str) -> None:
    tmp.write_text(text, encoding="ascii")
