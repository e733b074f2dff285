"""`monitor inspect`: extract -> dedup -> tag one document (or a batch) without storing it."""

from __future__ import annotations

import json
from typing import Any

import click
from sqlmodel import Session

from monitor.dedup import Verdict
from monitor.errors import UsageError
from monitor.extract.documents import Document, document_from_bytes, read_document
from monitor.run.context import AppContext
from monitor.store.dedup_index import DedupIndex
from monitor.store.queries import describe_ref
from monitor.topics.tagger import Tagger, Tagging


def verdict_json(session: Session, verdict: Verdict) -> dict[str, Any] | None:
    if verdict.kind is None:
        return None
    of = describe_ref(session, verdict.of.kind, verdict.of.id) if verdict.of else None
    return {"kind": verdict.kind, "score": round(verdict.score, 4), "of": of}


def inspect_one(
    session: Session, index: DedupIndex, tagger: Tagger, ident: Any, doc: Document
) -> tuple[dict[str, Any], Verdict, Tagging]:
    verdict = index.match(doc.title, doc.text, None)
    tagging = tagger.tag(doc.title, doc.text)
    record = {
        "id": ident,
        "title": doc.title,
        "url": doc.url,
        "language": doc.language,
        "topics": tagging.topics,
        "topic_scores": {t: round(s, 3) for t, s in tagging.scores.items()},
        "duplicate": verdict_json(session, verdict),
    }
    return record, verdict, tagging


def _explain(record: dict[str, Any], verdict: Verdict, tagging: Tagging) -> None:
    click.echo(f"title:    {record['title']}")
    if record["url"]:
        click.echo(f"url:      {record['url']}")
    click.echo(f"language: {record['language'] or '?'}")
    dup = record["duplicate"]
    if dup is None:
        click.echo(f"verdict:  NEW (best same-story score {verdict.score:.2f})")
    else:
        of = dup["of"] or {}
        where = f"seed section {of.get('section')}" if of.get("seed") else f"article {of.get('id')}"
        click.echo(
            f"verdict:  {dup['kind']} (score {dup['score']:.2f}) of {where}: {of.get('title')}"
        )
    for reason in verdict.reasons:
        click.echo(f"          - {reason}")
    click.echo("topics:")
    if not tagging.scores:
        click.echo("          (none)")
    for topic, score in sorted(tagging.scores.items(), key=lambda kv: -kv[1]):
        mark = "*" if topic in tagging.topics else " "
        click.echo(
            f"        {mark} {topic:<20} {score:.2f}  "
            + "; ".join(tagging.reasons.get(topic, [])[:4])
        )


def _batch_docs(app: AppContext, path: str) -> list[tuple[Any, Document]]:
    docs = []
    with click.open_file(path, encoding="utf-8") as handle:
        for n, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UsageError(f"{path}:{n}: not valid JSON: {exc.msg}") from None
            if not isinstance(item, dict):
                raise UsageError(f"{path}:{n}: expected an object")
            ident, title = item.get("id", n), item.get("title")
            if isinstance(item.get("text"), str):
                doc = document_from_bytes(
                    item["text"].encode(), item.get("url"), False, app.settings, title
                )
            elif isinstance(item.get("html"), str):
                doc = document_from_bytes(
                    item["html"].encode(), item.get("url"), True, app.settings, title
                )
            elif isinstance(item.get("url"), str):
                doc = read_document(item["url"], app.settings)
            else:
                raise UsageError(f'{path}:{n}: each line needs "text", "html" or "url"')
            docs.append((ident, doc))
    return docs


@click.command()
@click.argument("source", required=False, metavar="PATH|URL|-")
@click.option("--batch", metavar="FILE.jsonl", help='Lines {"id", "text"|"html"|"url"}.')
@click.option("--json", "as_json", is_flag=True, help="JSON output (one line per document).")
@click.pass_obj
def inspect(app: AppContext, source: str | None, batch: str | None, as_json: bool) -> None:
    """Run extract -> dedup -> tag on a document without storing it, and explain the verdict."""
    if (source is None) == (batch is None):
        raise UsageError("inspect: give a PATH, URL or - , or --batch FILE.jsonl")
    docs = (
        _batch_docs(app, batch) if batch else [(source, read_document(source or "-", app.settings))]
    )
    with Session(app.engine()) as session:
        index = DedupIndex(session, app.settings.dedup, cache=False)
        tagger = app.tagger(session)
        for ident, doc in docs:
            record, verdict, tagging = inspect_one(session, index, tagger, ident, doc)
            if as_json:
                click.echo(json.dumps(record, ensure_ascii=False))
            else:
                _explain(record, verdict, tagging)
