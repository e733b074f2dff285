"""`monitor compare A B` and `monitor compare --batch FILE.jsonl --json` through the CLI group."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from dedup_samples import OTHER_EVENT, REWRITE, SPORT, STORY

from monitor.cli import cli


@pytest.fixture()
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text("", encoding="utf-8")
    return path


def run(config: Path, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), "compare", *args], input=stdin)


def write(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_two_text_files_json(tmp_path: Path, config: Path) -> None:
    a = write(tmp_path, "a.txt", "Baidu releases Ernie 4.5 and X1\n" + STORY)
    b = write(tmp_path, "b.txt", "Baidu unveils free Ernie models\n" + REWRITE)
    result = run(config, a, b, "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out == {
        "id": "a.txt|b.txt",
        "same_story": True,
        "kind": "same-story",
        "score": out["score"],
    }
    assert out["score"] >= 0.55


def test_two_text_files_explained(tmp_path: Path, config: Path) -> None:
    a = write(tmp_path, "a.txt", "Baidu releases Ernie 4.5 and X1\n" + STORY)
    b = write(tmp_path, "b.txt", "Baidu to release Ernie 5\n" + OTHER_EVENT)
    result = run(config, a, b)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("not the same story (score ")
    assert "differs: ernie 4.5/x1 vs 5" in result.output


def test_stdin_against_a_file(tmp_path: Path, config: Path) -> None:
    a = write(tmp_path, "a.txt", STORY)
    result = run(config, a, "-", "--json", stdin=STORY)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["kind"] == "exact"


def test_missing_file_is_a_usage_error(tmp_path: Path, config: Path) -> None:
    result = run(config, str(tmp_path / "nope.txt"), str(tmp_path / "nope2.txt"))
    assert result.exit_code != 0
    assert "cannot read" in str(result.exception)


def test_batch_json_lines(tmp_path: Path, config: Path) -> None:
    lines = [
        {"id": "copy", "a": STORY, "b": STORY},
        {"id": "rewrite", "a": STORY, "b": REWRITE},
        {"id": "other", "a": STORY, "b": SPORT},
    ]
    batch = write(tmp_path, "pairs.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n")
    result = run(config, "--batch", batch, "--json")
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in result.output.splitlines()]
    assert [o["id"] for o in out] == ["copy", "rewrite", "other"]
    assert [o["kind"] for o in out] == ["exact", "same-story", None]
    assert [o["same_story"] for o in out] == [True, True, False]
    assert set(out[0]) == {"id", "same_story", "kind", "score"}


def test_batch_rejects_a_bad_line(tmp_path: Path, config: Path) -> None:
    batch = write(tmp_path, "pairs.jsonl", '{"id": 1, "a": "x"}\n')
    result = run(config, "--batch", batch, "--json")
    assert result.exit_code != 0
    assert "pairs.jsonl:1" in str(result.exception)
