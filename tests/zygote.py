"""Runs `monitor` commands in forked children of one process that imported everything once,
so a test can start (and `kill -9`) many real poll processes in a few seconds.

Protocol on stdin/stdout, one line each: `run DIR ARGS...` -> the child's pid;
`wait PID` -> its exit status (negative: killed by that signal); `quit`."""

from __future__ import annotations

import os
import sys

from monitor.cli import main


def child(workdir: str, args: list[str]) -> None:
    os.chdir(workdir)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    try:
        main(args)
    except SystemExit as exc:
        os._exit(int(exc.code or 0))
    os._exit(0)


def serve() -> None:
    for line in sys.stdin:
        cmd, *rest = line.split()
        if cmd == "run":
            pid = os.fork()
            if pid == 0:
                child(rest[0], rest[1:])
            print(pid, flush=True)
        elif cmd == "wait":
            _, status = os.waitpid(int(rest[0]), 0)
            print(os.waitstatus_to_exitcode(status), flush=True)
        else:
            return


if __name__ == "__main__":
    serve()
