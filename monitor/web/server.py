"""`monitor serve`: Datasette on the configured SQLite file, read-only, behind uvicorn.

The file is opened with `mode=ro` (Datasette's default for a mutable database), not
`immutable=1`: the poller keeps writing, and an immutable open would serve stale pages or
corrupt reads. The plugin adds `PRAGMA query_only` on top.
"""

from __future__ import annotations

import logging
import sqlite3
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from monitor.config.load import Settings
from monitor.digest.mailer import is_loopback
from monitor.errors import DatabaseError, UsageError
from monitor.web.metadata import DATABASE, build_metadata
from monitor.web.plugin import MonitorPlugin

log = logging.getLogger("monitor.web")
PLUGIN_NAME = "monitor-web"

DATASETTE_SETTINGS = {
    "truncate_cells_html": 300,  # article text is long: a table stays readable
    "default_page_size": 50,
    "sql_time_limit_ms": 3000,
    "facet_time_limit_ms": 500,
    "allow_download": False,
}


def sqlite_path(database_url: str) -> Path:
    """The SQLite file of `database_url`; the web view reads nothing else."""
    prefix = "sqlite:///"
    if not database_url.startswith(prefix) or ":memory:" in database_url:
        raise UsageError(
            "monitor serve shows a SQLite database; the configured database is "
            f"{database_url.split('://')[0]} (query PostgreSQL with its own tools)"
        )
    return Path(database_url[len(prefix) :].split("?")[0])


def article_columns(path: Path) -> set[str]:
    """The columns of `article`, read without writing (fails when `monitor init` has not run)."""
    if not path.is_file():
        raise DatabaseError(f"no database at {path}: run `monitor init` first")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            columns = {row[1] for row in conn.execute("PRAGMA table_info(article)")}
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise DatabaseError(f"cannot open the database {path}: {exc}") from exc
    if not columns:
        raise DatabaseError("the database has no schema yet: run `monitor init` first")
    return columns


def build_datasette(settings: Settings, topic_names: dict[str, str]) -> Any:
    """A Datasette instance over the database, with the plugin registered once."""
    from datasette.app import Datasette
    from datasette.database import Database
    from datasette.plugins import pm

    path = sqlite_path(settings.database_url)
    metadata = build_metadata(article_columns(path))
    if pm.get_plugin(PLUGIN_NAME) is not None:
        pm.unregister(name=PLUGIN_NAME)
    pm.register(MonitorPlugin(settings.web, topic_names), name=PLUGIN_NAME)
    templates = resources.files("monitor.web").joinpath("templates")
    options: dict[str, Any] = dict(DATASETTE_SETTINGS)
    prefix = urlsplit(settings.web.base_url).path.rstrip("/")
    if prefix:  # behind a reverse proxy at https://host/prefix/: every link carries it
        options["base_url"] = prefix + "/"
    ds = Datasette([], metadata=metadata, template_dir=str(templates), settings=options)
    for name in list(ds.databases):  # no file given: Datasette adds an empty in-memory one
        if name != "_internal":
            ds.remove_database(name)
    # A fixed name, whatever the file is called: URLs in feeds and digests stay the same.
    ds.add_database(Database(ds, path=str(path), is_mutable=True), name=DATABASE)
    return ds


def serve(settings: Settings, topic_names: dict[str, str], host: str, port: int) -> None:
    """Serve until interrupted (uvicorn handles SIGINT/SIGTERM)."""
    import uvicorn

    ds = build_datasette(settings, topic_names)
    if not is_loopback(host):
        log.warning(
            "listening on %s: anyone who can reach this address can read the whole database "
            "(there is no login); put it behind a reverse proxy with authentication, or bind "
            "to 127.0.0.1",
            host,
        )
    log.info("web view on http://%s:%d/ (read-only)", _display(host), port)
    uvicorn.run(ds.app(), host=host, port=port, log_level="warning", access_log=False)


def _display(host: str) -> str:
    return f"[{host}]" if ":" in host else host
