"""`monitor compare`: are two documents the same story? Nothing is stored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from monitor.config.load import Settings
from monitor.dedup import Verdict, compare_texts
from monitor.errors import UsageError
from monitor.extract.documents import read_document
from monitor.run.context import AppContext


def _record(pair_id: Any, verdict: Verdict) -> dict[str, Any]:
    return {
        "id": pair_id,
        "same_story": verdict.same_story,
        "kind": verdict.kind,
        "score": verdict.score,
    }


def _batch(path: str, settings: Settings) -> None:
    handle = click.open_file(path, encoding="utf-8")
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                pair_id, a, b = item.get("id"), item["a"], item["b"]
            except (ValueError, KeyError, AttributeError, TypeError) as exc:
                raise UsageError(f'{path}:{number}: expected {{"id", "a", "b"}} ({exc})') from exc
            if not isinstance(a, str) or not isinstance(b, str):
                raise UsageError(f'{path}:{number}: "a" and "b" must be strings')
            verdict = compare_texts("", a, "", b, settings.dedup)
            click.echo(json.dumps(_record(pair_id, verdict), ensure_ascii=False))


@click.command("compare")
@click.argument("a", required=False)
@click.argument("b", required=False)
@click.option("--batch", "batch", metavar="FILE.jsonl", help='Lines {"id", "a", "b"}.')
@click.option("--json", "as_json", is_flag=True, help="One JSON object per comparison.")
@click.pass_obj
def compare(
    app: AppContext, a: str | None, b: str | None, batch: str | None, as_json: bool
) -> None:
    """Say whether documents A and B (file, URL or -) report the same story."""
    settings = app.settings
    if batch is not None:
        if a is not None or b is not None:
            raise UsageError("compare: give either A and B or --batch FILE, not both")
        if not as_json:
            raise UsageError("compare --batch writes JSON lines: add --json")
        _batch(batch, settings)
        return
    if a is None or b is None:
        raise UsageError("compare: give two documents (path, URL or -) or --batch FILE.jsonl")
    if a == "-" and b == "-":
        raise UsageError("compare: only one of A and B can be standard input")
    doc_a, doc_b = read_document(a, settings), read_document(b, settings)
    verdict = compare_texts(doc_a.title, doc_a.text, doc_b.title, doc_b.text, settings.dedup)
    if as_json:
        click.echo(json.dumps(_record(f"{_name(a)}|{_name(b)}", verdict), ensure_ascii=False))
        return
    label = verdict.kind or "not the same story"
    click.echo(f"{label} (score {verdict.score:.3f})")
    for reason in verdict.reasons:
        click.echo(f"  - {reason}")


def _name(spec: str) -> str:
    return spec if spec == "-" or "://" in spec else Path(spec).name
