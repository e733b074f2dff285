"""The poll lock: two runs (cron + cron, cron + daemon) never poll at the same time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from monitor.errors import LockedError


@contextmanager
def poll_lock(path: Path, timeout: float = 0.0) -> Iterator[None]:
    """Hold the lock file next to the database; raise LockedError if another run has it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise LockedError(f"another monitor run is polling (lock {path}); not polling") from None
    try:
        yield
    finally:
        lock.release()
