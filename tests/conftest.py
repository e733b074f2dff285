"""Shared fixtures: a real HTTP server on 127.0.0.1 serving fixture feeds and pages, a
temporary configuration with a real SQLite file, and a helper to run the CLI in-process."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from support import Site

from monitor.cli import main

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run `monitor ARGS` in-process; return exit code and captured output."""

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def site(httpserver: HTTPServer) -> Iterator[Site]:
    yield Site(httpserver)
    httpserver.clear()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder: seeds copied from the repository, database in data/."""
    shutil.copytree(ROOT / "seeds", tmp_path / "seeds")
    monkeypatch.setenv("MONITOR_ALLOW_HOSTS", "127.0.0.1")
    for var in (
        "MONITOR_CONFIG",
        "MONITOR_DATABASE_URL",
        "MONITOR_SEEDS_DIR",
        "MONITOR_SMTP_URL",
        "MONITOR_DIGEST_TO",
        "MONITOR_DIGEST_FROM",
        "MONITOR_SMTP_PASSWORD",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path
