"""Read-only commands: search, status, export."""

from __future__ import annotations

import csv
import json
import sys
from datetime import UTC, datetime

import click
from rich.console import Console
from rich.table import Table
from sqlmodel import Session

from monitor.errors import UsageError
from monitor.run.context import AppContext
from monitor.store.queries import export_rows, search_articles, status_report


def parse_since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--since: expected a date like 2025-01-31, got {value!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@click.command()
@click.argument("query")
@click.option("--topic", help="Only articles tagged with this topic id.")
@click.option("--since", metavar="DATE", help="Only articles published (or fetched) since DATE.")
@click.option("--limit", default=20, show_default=True, help="Most results shown.")
@click.option("--json", "as_json", is_flag=True, help="One JSON array of results.")
@click.pass_obj
def search(
    app: AppContext, query: str, topic: str | None, since: str | None, limit: int, as_json: bool
) -> None:
    """Full-text search over stored articles (words, all required)."""
    if topic and topic not in app.topics.ids:
        raise UsageError(f"--topic: unknown topic {topic!r} (known: {', '.join(app.topics.ids)})")
    with Session(app.engine()) as session:
        results = search_articles(session, query, topic, parse_since(since), limit)
    if as_json:
        click.echo(json.dumps(results, ensure_ascii=False, indent=1))
        return
    if not results:
        click.echo("no results")
        return
    for r in results:
        labels = ", ".join(r["topics"]) or "-"
        dup = f" [{r['duplicate']}]" if r["duplicate"] else ""
        click.echo(f"{r['id']:>6}  {r['published'] or r['fetched'] or ''}  {r['title']}{dup}")
        click.echo(f"        {r['url']}  ({labels})")
        click.echo(f"        {r['snippet']}")


def _short_time(value: str | None) -> str:
    """`2025-03-04 09:00` in UTC for the table (the JSON keeps full ISO 8601)."""
    return value[:16].replace("T", " ") if value else "-"


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable (see SPEC.md).")
@click.pass_obj
def status(app: AppContext, as_json: bool) -> None:
    """Per-feed health, counts, pages awaiting a retry and the last digest."""
    with Session(app.engine()) as session:
        report = status_report(session, [f.name for f in app.settings.feeds])
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=1))
        return
    console = Console(highlight=False)
    digest = report["last_digest"]
    console.print(
        f"articles: {report['articles']} ({report['duplicates']} duplicates)   "
        f"seeds: {report['seeds']} ({report['seed_sections']} sections)   "
        f"last digest: {digest['date'] + ' ' + digest['state'] if digest else 'none'}"
    )
    if report["pages_awaiting_retry"]:
        console.print(
            f"pages awaiting a retry: {report['pages_awaiting_retry']} "
            f"(next {_short_time(report['next_page_retry'])} UTC)"
        )
    if not sys.stdout.isatty():  # under cron or in a pipe: one plain line per feed, nothing cut
        for f in report["feeds"]:
            click.echo(
                f"{f['name']}\t{f['state']}\t{f['entries']}\t{f['consecutive_failures']}\t"
                f"{f['last_success'] or '-'}\t{f['next_check'] or '-'}\t{f['last_error'] or ''}"
            )
        return
    table = Table("feed", "state", "entries", "last success", "next check", "last error")
    for column, (low, high) in zip(
        table.columns, ((8, 24), (10, 11), (7, 7), (16, 16), (16, 16), (10, 50)), strict=True
    ):
        column.no_wrap, column.overflow = True, "ellipsis"
        column.min_width, column.max_width = low, high
    for f in report["feeds"]:
        state = f["state"] + (f" x{f['consecutive_failures']}" if f["consecutive_failures"] else "")
        table.add_row(
            f["name"],
            state,
            str(f["entries"]),
            _short_time(f["last_success"]),
            _short_time(f["next_check"]),
            f["last_error"] or "",
        )
    console.print(table)


@click.command()
@click.option("--since", metavar="DATE", help="Only articles fetched since DATE.")
@click.option(
    "--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True
)
@click.pass_obj
def export(app: AppContext, since: str | None, fmt: str) -> None:
    """Every stored article, one record each, on standard output."""
    fields = [
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
    ]
    writer = csv.DictWriter(sys.stdout, fieldnames=fields) if fmt == "csv" else None
    if writer is not None:
        writer.writeheader()
    with Session(app.engine()) as session:
        for row in export_rows(session, parse_since(since)):
            if writer is None:
                sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
            else:
                row["topics"] = " ".join(row["topics"])
                row["duplicate"] = json.dumps(row["duplicate"]) if row["duplicate"] else ""
                writer.writerow(row)
