"""CLI commands over a populated database: search, status, export, OPML, inspect, README SQL."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
from pathlib import Path

import pytest
from support import Db, Site, feeds, serve_world, write_config

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def populated(site: Site, workdir: Path, run_cli) -> Path:  # type: ignore[no-untyped-def]
    base = serve_world(site)
    write_config(workdir, feeds(base))
    assert run_cli("init").code == 0
    assert run_cli("poll", "--all").code == 0
    return workdir / "data" / "monitor.db"


@pytest.mark.backends
def test_search(populated: Path, db: Db, run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("search", "conductor", "--json")
    assert result.code == 0
    hits = json.loads(result.out)
    assert [h["title"] for h in hits] == [
        "Philharmonic orchestra names Lena Varga as its new chief conductor"
    ]
    assert "[conductor]" in hits[0]["snippet"]
    assert json.loads(run_cli("search", "conductor", "--since", "2030-01-01", "--json").out) == []
    human = run_cli("search", "bridge cables")
    assert "Harbour bridge" in human.out
    # FTS syntax and SQL quotes are words, never errors or injections.
    for nasty in [
        '"',
        "bridge OR",
        "NEAR(",
        "'; DROP TABLE article; --",
        "*",
        "a AND",
        "-x",
        "title:x",
        "^",
    ]:
        result = run_cli("search", "--", nasty)
        assert result.code == 0, (nasty, result.err)
        assert result.out.strip() == "no results" or result.out.strip()
    assert db.rows("SELECT count(*) FROM article") == [(5,)]
    assert run_cli("search", "x", "--topic", "nope").code == 2


def test_status_human(populated: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("status")
    assert result.code == 0
    assert "articles: 5" in result.out and "broken" in result.out and "HTTP 500" in result.out


@pytest.mark.backends
def test_status_json_fields(populated: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    report = json.loads(run_cli("status", "--json").out)
    for key in ("articles", "duplicates", "seeds", "seed_sections", "last_digest", "feeds"):
        assert key in report
    feed = report["feeds"][0]
    for key in (
        "name",
        "url",
        "state",
        "entries",
        "last_success",
        "last_error",
        "consecutive_failures",
        "next_check",
    ):
        assert key in feed
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d.*\+00:00$", feed["next_check"])


@pytest.mark.backends
def test_export_jsonl_and_csv(populated: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    lines = run_cli("export").out.strip().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 5
    assert set(records[0]) == {
        "id",
        "url",
        "canonical_url",
        "feed",
        "title",
        "published",
        "fetched",
        "text",
        "language",
        "topics",
        "duplicate",
    }
    assert {r["feed"] for r in records} <= {"city", "wire", "culture"}
    out = run_cli("export", "--format", "csv").out
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 5 and rows[0]["canonical_url"].startswith("http://")
    assert run_cli("export", "--since", "2999-01-01").out == ""


def test_opml_round_trip(workdir: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    (workdir / "config.toml").write_text("# my comment\n[fetch]\nconcurrency = 4\n")
    opml = workdir / "feeds.opml"
    opml.write_text("""<?xml version="1.0"?><opml version="2.0"><head/><body>
      <outline text="Tech"><outline text="Ars &quot;Tech&quot;" xmlUrl="https://ars.example/feed"/>
      <outline title="Other" xmlUrl="https://other.example/rss"/></outline>
      <outline text="dup" xmlUrl="https://other.example/rss"/></body></opml>""")
    result = run_cli("feeds", "import-opml", str(opml))
    assert result.code == 0 and "imported 2 feed(s)" in result.out
    text = (workdir / "config.toml").read_text()
    assert text.startswith("# my comment")
    exported = run_cli("feeds", "export-opml").out
    assert 'xmlUrl="https://ars.example/feed"' in exported and "Ars &quot;Tech&quot;" in exported
    assert "imported 0 feed(s)" in run_cli("feeds", "import-opml", str(opml)).out
    bomb = workdir / "bomb.opml"
    bomb.write_text(
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">'
        '<!ENTITY b "&a;&a;&a;">]><opml><body><outline text="&b;" '
        'xmlUrl="https://x.example/"/></body></opml>'
    )
    result = run_cli("feeds", "import-opml", str(bomb))
    assert result.code == 2 and "not a valid OPML" in result.err


def test_inspect_json_shape(populated: Path, workdir: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    seed = (ROOT / "seeds" / "000_58a9fce9fc7ee3d5.txt").read_text()
    doc = workdir / "copy.txt"
    doc.write_text(seed)
    record = json.loads(run_cli("inspect", str(doc), "--json").out)
    assert set(record) >= {"id", "title", "url", "language", "topics", "topic_scores", "duplicate"}
    assert record["language"] == "en"
    assert record["duplicate"]["kind"] == "exact"
    assert record["duplicate"]["of"]["seed"] is True
    assert "deepseek" in record["topics"]
    batch = workdir / "batch.jsonl"
    batch.write_text(
        json.dumps({"id": "x1", "text": seed})
        + "\n"
        + json.dumps(
            {
                "id": "x2",
                "text": "The local bakery won a prize for its rye bread at the regional fair.",
            }
        )
        + "\n"
    )
    out = [
        json.loads(line)
        for line in run_cli("inspect", "--batch", str(batch), "--json").out.splitlines()
    ]
    assert [r["id"] for r in out] == ["x1", "x2"]
    assert out[1]["duplicate"] is None and out[1]["topics"] == []
    human = run_cli("inspect", str(doc))
    assert "exact" in human.out and "topics:" in human.out
    assert run_cli("inspect").code == 2


def test_readme_queries_run(populated: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("```sql", 1)[1].split("```", 1)[0]
    statements = [q for q in (s.strip() for s in block.split(";")) if q]
    assert len(statements) == 4
    with sqlite3.connect(populated) as c:
        results = [c.execute(s).fetchall() for s in statements]
    per_topic, stories, failing = results[1], results[2], results[3]
    assert isinstance(per_topic, list)
    assert len(stories) == 5
    assert [r[0] for r in failing] == ["broken"]
