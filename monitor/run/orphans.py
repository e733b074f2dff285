"""No process outlives the run that started it: when `monitor poll`, `run` or `worker` is
killed (SIGKILL, the OOM killer, a timeout), its fork server, extraction processes and worker
children end by themselves within a second, instead of piling up at 400 MB each.

Linux's parent-death signal (prctl PR_SET_PDEATHSIG) does it for children forked by a
long-lived thread. The kernel ties it to the *thread* that forked the child, so the fork
server, which multiprocessing starts from whichever thread first submits a task, watches its
parent instead (`watch_parent`).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1
# The pid a child must die with: set by a run for its fork server (in its environment,
# which the fork server inherits), and by `monitor worker --processes N` for its workers.
PARENT_ENV = "MONITOR_PARENT_PID"
WORKER_PARENT_ENV = "MONITOR_WORKER_PARENT_PID"


def die_with_parent(parent: int | None = None) -> None:
    """Receive SIGKILL when the parent dies; exit at once if it is already gone."""
    expected = os.getppid() if parent is None else parent
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != expected:  # died between our fork and the prctl
        os._exit(1)


def watch_parent(parent: int, interval: float = 0.25) -> None:
    """A daemon thread that kills this process once `parent` is no longer its parent (its
    own children then get their parent-death signal in turn)."""
    if os.getppid() != parent:
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def mark_parent() -> None:
    """Name this process as the one its fork server must die with."""
    os.environ[PARENT_ENV] = str(os.getpid())


def named_parent(variable: str = PARENT_ENV) -> int | None:
    """The pid the environment says this process must die with (None when unset: a
    process started by hand or by cron is left alone)."""
    value = os.environ.get(variable, "")
    if not value.isdigit() or int(value) == os.getpid():
        return None
    return int(value)
