"""Seed corpus: reading files, splitting compilations, loading idempotently."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from monitor.extract.seeds import read_seed_file, split_sections

ROOT = Path(__file__).resolve().parent.parent
SEED_002 = ROOT / "seeds" / "002_f0eed334196ae8f4.txt"

TITLES_002 = [
    "China’s position on open-source artificial intelligence (AI) is upending the global AI race",
    "Baidu, once China’s generative AI leader – is battling to regain its position",
    "China’s AI vs U.S. AI – competition heats up – and that’s good for business – isn’t it?",
    "Chinese tech giant Baidu to release next-generation AI model soon as DeepSeek leads Chinese AI tech",
    "Musk is everywhere!",
    "BYD shares hit record as the EV maker rolls out advanced driver tech with DeepSeek’s AI assistance",
    "Is Nvidia share price at risk as DeepSeek creates an alternative lower cost AI direction?",
    "The aftermath from the arrival of Deepseek",
    "China’s DeepSeek low-cost challenger to AI rattles tech U.S. markets",
]


def test_compilation_splits_into_nine_titled_sections() -> None:
    (doc,) = read_seed_file(SEED_002, SEED_002.name)
    assert [s.title for s in doc.sections] == TITLES_002
    musk = doc.sections[4]
    assert musk.text.startswith("Elon Musk is the world’s richest person")
    assert "BYD is a Tesla threat" in musk.text  # a sub-heading stays inside its article
    assert all(len(s.text) > 500 for s in doc.sections)


def test_single_article_is_one_section() -> None:
    for name in ("000_58a9fce9fc7ee3d5.txt", "001_19399f3a16a76d02.txt"):
        (doc,) = read_seed_file(ROOT / "seeds" / name, name)
        assert len(doc.sections) == 1
        assert 20 < len(doc.sections[0].title) <= 140


def test_split_plain_text_without_headlines() -> None:
    text = "First paragraph of a story that has no headline at all.\n\nSecond paragraph."
    (section,) = split_sections(text)
    assert section.title == "First paragraph of a story that has no headline at all."


def test_init_loads_seeds_idempotently_and_seed_adds(workdir: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    (workdir / "config.toml").write_text("")
    assert run_cli("init").code == 0
    db = workdir / "data" / "monitor.db"

    def counts() -> tuple[int, int]:
        with sqlite3.connect(db) as c:
            return (
                c.execute("SELECT count(*) FROM seed_document").fetchone()[0],
                c.execute("SELECT count(*) FROM seed_section").fetchone()[0],
            )

    assert counts() == (3, 11)
    first = run_cli("init")
    assert "0 document(s) loaded now" in first.out
    assert counts() == (3, 11)

    extra = workdir / "more.jsonl"
    extra.write_text(
        json.dumps(
            {
                "id": "a1",
                "title": "Tencent opens Hunyuan weights",
                "text": "Tencent released the weights of its Hunyuan model.",
            }
        )
        + "\n"
        + json.dumps({"id": "a2", "text": "Alibaba updated Qwen."})
        + "\n"
    )
    md = workdir / "note.md"
    md.write_text("# Zhipu raises money\n\nZhipu AI raised a new funding round in Beijing.\n")
    html = workdir / "page.html"
    html.write_text(
        "<html><body><article><h1>Moonshot ships Kimi</h1>"
        + "<p>Moonshot AI released a new version of its Kimi assistant today. " * 8
        + "</p></article></body></html>"
    )
    result = run_cli("seed", str(extra), str(md), str(html))
    assert result.code == 0, result.err
    assert counts() == (7, 15)
    assert (workdir / "seeds" / "more.jsonl").exists()
    with sqlite3.connect(db) as c:
        titles = {r[0] for r in c.execute("SELECT title FROM seed_section")}
    assert "Tencent opens Hunyuan weights" in titles
    assert run_cli("seed", str(extra)).code == 0
    assert counts() == (7, 15)

    bad = workdir / "bad.jsonl"
    bad.write_text('{"id": 1}\n')
    result = run_cli("seed", str(bad))
    assert result.code == 2 and "bad.jsonl:1" in result.err
