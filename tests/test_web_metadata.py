"""The shipped Datasette metadata describes the whole schema, and offers the retry query only
when the database has its columns."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from monitor.store.db import make_engine, migrate
from monitor.web.metadata import DATABASE, RETRY_COLUMNS, build_metadata, shipped_metadata
from monitor.web.server import article_columns


def test_every_table_and_column_is_described(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate(engine)
    engine.dispose()
    conn = sqlite3.connect(tmp_path / "m.db")
    tables = {
        name: {row[1] for row in conn.execute(f"PRAGMA table_info('{name}')")}
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND name NOT LIKE 'article_fts_%'"  # FTS5's own shadow tables
        )
    }
    conn.close()
    described = shipped_metadata()["databases"][DATABASE]["tables"]
    for table, columns in tables.items():
        assert described.get(table, {}).get("description"), f"{table} has no description"
        missing = columns - set(described[table].get("columns", {}))
        assert not missing, f"{table}: columns without a description: {sorted(missing)}"


def test_the_retry_query_needs_its_columns(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate(engine)
    engine.dispose()
    columns = article_columns(tmp_path / "m.db")
    assert columns >= RETRY_COLUMNS  # migration 0004 adds them
    queries = build_metadata(columns)["databases"][DATABASE]["queries"]
    assert queries["pages_awaiting_retry"]["title"] == "Pages awaiting a retry"
    older = build_metadata(columns - RETRY_COLUMNS)["databases"][DATABASE]["queries"]
    assert "pages_awaiting_retry" not in older and "failing_feeds" in older
    assert "pages_awaiting_retry" not in shipped_metadata()["databases"][DATABASE]["queries"]


def test_no_column_is_rendered_as_markup() -> None:
    plugins = shipped_metadata()["plugins"]
    assert plugins["datasette-render-markdown"] == {"patterns": []}
    assert "datasette-render-html" not in plugins
    charts = plugins["datasette-dashboards"]["news"]["charts"]
    assert all(chart["library"] != "table" for chart in charts.values())  # tables render HTML


def test_serve_refuses_what_it_cannot_show(workdir: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    (workdir / "config.toml").write_text("", encoding="utf-8")
    missing = run_cli("serve")
    assert missing.code == 1 and "run `monitor init` first" in missing.err
    assert not (workdir / "data" / "monitor.db").exists()  # looking created nothing
    (workdir / "config.toml").write_text(
        '[database]\nurl = "postgresql+psycopg://monitor@db.example/monitor"\n', encoding="utf-8"
    )
    postgres = run_cli("serve")
    assert postgres.code == 2 and "SQLite" in postgres.err and "Traceback" not in postgres.err


def test_a_non_loopback_address_is_served_with_a_warning(
    workdir: Path,
    run_cli,
    monkeypatch,
    caplog,  # type: ignore[no-untyped-def]
) -> None:
    import uvicorn

    calls: list[tuple[str, int]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port, **kw: calls.append((host, port)))
    (workdir / "config.toml").write_text("[web]\nport = 8123\n", encoding="utf-8")
    assert run_cli("init").code == 0
    assert run_cli("serve").code == 0
    assert calls == [("127.0.0.1", 8123)] and "anyone who can reach" not in caplog.text
    assert run_cli("serve", "--host", "0.0.0.0", "--port", "9000").code == 0
    assert calls[-1] == ("0.0.0.0", 9000)
    assert "anyone who can reach this address can read the whole database" in caplog.text


def test_every_connection_of_the_web_view_refuses_writes(workdir: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    import asyncio
    import sqlite3 as sqlite

    from monitor.config.load import load_settings
    from monitor.web.server import build_datasette

    (workdir / "config.toml").write_text("", encoding="utf-8")
    assert run_cli("init").code == 0
    ds = build_datasette(load_settings(workdir / "config.toml"), {"nvidia": "Nvidia"})
    db = ds.get_database("monitor")

    def write(conn: sqlite.Connection) -> None:
        conn.execute("DELETE FROM seed_section")

    async def probe() -> tuple[object, str]:
        (guard,) = (await db.execute("select * from pragma_query_only")).rows
        try:
            await db.execute_fn(write)
        except sqlite.OperationalError as exc:
            return guard[0], str(exc)
        return guard[0], "written"

    guard, error = asyncio.run(probe())
    assert guard == 1 and "readonly" in error.replace(" ", "").lower()
