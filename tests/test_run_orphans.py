"""Issue 14, clean kills: when `monitor poll`, `monitor run` or `monitor worker` dies by
SIGKILL, every process it started (fork server, extraction processes, resource tracker,
worker children) exits by itself within seconds. Real processes, killed for real."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from servers import Redis
from support import Site
from worlds import build_world, rss

ROOT = Path(__file__).resolve().parent.parent


def group(pgid: int) -> dict[int, str]:
    """Live (not zombie) processes of a process group: pid -> command line."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        if int(pgrp) == pgid and state not in ("Z", "X"):
            found[int(entry)] = cmd
    return found


def start(workdir: Path, *args: str) -> subprocess.Popen[bytes]:
    log = open(workdir / f"{args[0]}.log", "wb")  # noqa: SIM115 - kept by the child
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", str(workdir / "config.toml"), *args],
        cwd=workdir,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: everything it starts is in it
    )


def kill_and_wait(proc: subprocess.Popen[bytes], at_least: int) -> dict[int, str]:
    """Wait until the group has `at_least` processes, SIGKILL the leader, and return what
    is still alive 10 s later (cleaning it up, so a failure leaves nothing behind)."""
    deadline = time.monotonic() + 90
    while len(group(proc.pid)) < at_least:
        assert proc.poll() is None, "ended before the test could kill it"
        assert time.monotonic() < deadline, group(proc.pid)
        time.sleep(0.1)
    time.sleep(0.5)  # in the middle of the work
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    until = time.monotonic() + 10
    while group(proc.pid) and time.monotonic() < until:
        time.sleep(0.1)
    left = group(proc.pid)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return left


def serve(site: Site, workdir: Path, extra: str = "") -> None:
    world = build_world(feeds=3, per_feed=80, copies=0, seed=5)
    base = site.url("").rstrip("/")

    def slow(html: str):  # type: ignore[no-untyped-def]
        def handler(request):  # type: ignore[no-untyped-def]
            from werkzeug import Response

            time.sleep(0.02)
            return Response(html, content_type="text/html")

        return handler

    for path, html in world.pages.items():
        site.server.expect_request(path).respond_with_handler(slow(html))
    lines = [
        extra,
        "[fetch]\nper_host_delay = 0.0\n[extract]\nworkers = 2\n",
        '[dedup]\nembedder = "static"\n[schedule]\njitter = 0.0\ntick_seconds = 1.0\n',
    ]
    for i, path in enumerate(world.feeds):
        site.server.expect_request(path).respond_with_data(
            rss(base, world.feeds[path]), content_type="application/rss+xml"
        )
        lines.append(f'[[feeds]]\nname = "f{i}"\nurl = "{base}{path}"\n')
    (workdir / "config.toml").write_text("\n".join(lines), encoding="utf-8")


@pytest.mark.parametrize("command", [("poll", "--all"), ("run",)])
def test_a_killed_poll_or_daemon_leaves_no_process(
    site: Site, workdir: Path, run_cli, command: tuple[str, ...]
) -> None:  # type: ignore[no-untyped-def]
    serve(site, workdir)
    assert run_cli("init").code == 0
    proc = start(workdir, *command)
    # the run, its fork server, two extraction processes, the resource tracker
    left = kill_and_wait(proc, at_least=5)
    assert not left, left


def test_a_killed_worker_leaves_no_process(
    site: Site, workdir: Path, run_cli, redis_server: Redis
) -> None:  # type: ignore[no-untyped-def]
    redis_server.flush()
    serve(site, workdir, f'[queue]\nbroker_url = "{redis_server.url}"\n')
    assert run_cli("init").code == 0
    scheduler = start(workdir, "run", "--scheduler-only")
    try:
        proc = start(workdir, "worker", "--processes", "2")
        # the parent and its two workers (which extract in their task's thread)
        left = kill_and_wait(proc, at_least=3)
    finally:
        scheduler.terminate()
        scheduler.wait(30)
    assert not left, left
