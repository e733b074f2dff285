"""Where derived files that are costly to rebuild live between runs: tables built from the
installed packages' data (word frequencies, model weights unpacked), read back with mmap so
that every process of every run shares one copy in the page cache.

`$MONITOR_CACHE_DIR`, else `$XDG_CACHE_HOME/monitor`, else `~/.cache/monitor`. Nothing in it
is needed: a missing or read-only cache only costs time (callers then build in memory).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def cache_dir() -> Path | None:
    """The cache folder (created), or None if none can be created."""
    explicit = os.environ.get("MONITOR_CACHE_DIR")
    if explicit:
        folder = Path(explicit).expanduser()
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        folder = Path(base).expanduser() / "monitor"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder if os.access(folder, os.W_OK | os.X_OK) else None


def write_atomically(path: Path, write: Callable[[Path], None]) -> bool:
    """`write(tmp)` into a temporary file beside `path`, then rename it into place: readers
    (other processes, other runs) see the whole file or none. False if it cannot be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError:
        return False
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        return False
    return True
