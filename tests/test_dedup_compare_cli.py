"""`monitor compare --batch FILE.jsonl --json` through click's runner."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from dedup_samples import OTHER_EVENT, REWRITE, STORY

from monitor.cli.compare import compare


def test_batch_json_lines(tmp_path: Path) -> None:
    batch = tmp_path / "pairs.jsonl"
    lines = [
        {"id": "copy", "a": STORY, "b": STORY},
        {"id": "rewrite", "a": STORY, "b": REWRITE},
        {"id": "other", "a": STORY, "b": OTHER_EVENT},
    ]
    batch.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    (tmp_path / "config.toml").write_text("", encoding="utf-8")
    result = CliRunner().invoke(
        compare,
        ["--batch", str(batch), "--json"],
        env={"MONITOR_CONFIG": str(tmp_path / "config.toml")},
    )
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in result.output.splitlines()]
    assert [o["id"] for o in out] == ["copy", "rewrite", "other"]
    assert [o["kind"] for o in out] == ["exact", "same-story", None]
    assert [o["same_story"] for o in out] == [True, True, False]
    assert set(out[0]) == {"id", "same_story", "kind", "score"}


def test_batch_rejects_a_bad_line(tmp_path: Path) -> None:
    batch = tmp_path / "pairs.jsonl"
    batch.write_text('{"id": 1, "a": "x"}\n', encoding="utf-8")
    (tmp_path / "config.toml").write_text("", encoding="utf-8")
    env = {"MONITOR_CONFIG": str(tmp_path / "config.toml")}
    result = CliRunner().invoke(compare, ["--batch", str(batch), "--json"], env=env)
    assert result.exit_code != 0
    assert "pairs.jsonl:1" in str(result.exception)
