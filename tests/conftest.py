"""Shared fixtures: a real HTTP server on 127.0.0.1 serving fixture feeds and pages, a
temporary configuration with a real SQLite file, and a helper to run the CLI in-process."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from servers import Postgres, Redis, start_postgres, start_redis, stop_postgres
from sqlmodel import Session, SQLModel, create_engine
from support import Db, Site

from monitor.cli import main
from monitor.store.dedup_tables import TABLES as DEDUP_TABLES

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


BACKENDS = ("sqlite", "postgresql")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "backends: run the test on SQLite and on PostgreSQL (the `backend` fixture)"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames and metafunc.definition.get_closest_marker("backends"):
        metafunc.parametrize("backend", BACKENDS, indirect=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Postgres]:
    server = start_postgres()
    yield server
    stop_postgres(server)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Redis]:
    server = start_redis()
    yield server
    server.process.kill()
    server.process.wait()


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """SQLite unless the test is marked `backends` (then it runs once on each)."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest) -> str | None:
    """A fresh PostgreSQL database for a PostgreSQL run; None: the SQLite file of the config."""
    if backend == "sqlite":
        return None
    server: Postgres = request.getfixturevalue("postgres_server")
    return server.create_database()


@pytest.fixture(scope="session", autouse=True)
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One cache folder for the whole run (monitor.cachedir), never the user's own; the
    processes the tests start inherit it."""
    folder = tmp_path_factory.mktemp("cache")
    before = os.environ.get("MONITOR_CACHE_DIR")
    os.environ["MONITOR_CACHE_DIR"] = str(folder)
    yield folder
    if before is None:
        os.environ.pop("MONITOR_CACHE_DIR", None)
    else:
        os.environ["MONITOR_CACHE_DIR"] = before


@pytest.fixture
def db(workdir: Path, database_url: str | None) -> Db:
    """Plain SQL on the test's database, whichever the backend."""
    return Db(database_url or f"sqlite:///{workdir / 'data' / 'monitor.db'}")


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str | None) -> Path:
    """A project folder: seeds copied from the repository, database in data/ (or the
    PostgreSQL database of the test, through MONITOR_DATABASE_URL)."""
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
    if database_url:
        monkeypatch.setenv("MONITOR_DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def dedup_session(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> Iterator[Session]:
    """A session on a database holding only the dedup index's tables (SQLite or PostgreSQL)."""
    url = f"sqlite:///{tmp_path / 'dedup.db'}"
    if backend == "postgresql":
        url = request.getfixturevalue("postgres_server").create_database()
    engine = create_engine(url)
    SQLModel.metadata.create_all(engine, tables=DEDUP_TABLES)
    with Session(engine) as session:
        yield session
    engine.dispose()
