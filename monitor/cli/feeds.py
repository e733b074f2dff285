"""`monitor feeds`: OPML import and export."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from monitor.config.load import load_settings
from monitor.feeds.opml import feeds_toml, parse_opml, render_opml
from monitor.run.context import AppContext


@click.group()
def feeds() -> None:
    """Manage the feed list (OPML in and out)."""


@feeds.command("import-opml")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_obj
def import_opml(app: AppContext, file: Path) -> None:
    """Add the feeds of an OPML file to the configuration file (kept there)."""
    settings = app.settings
    found = parse_opml(file.read_bytes(), str(file))
    names = {f.name for f in settings.feeds}
    urls = {f.url for f in settings.feeds}
    new = []
    for feed in found:
        if feed.url in urls:
            continue
        name, n = feed.name, 2
        while name in names:
            name, n = f"{feed.name} ({n})", n + 1
        names.add(name)
        urls.add(feed.url)
        new.append(type(feed)(name=name, url=feed.url))
    if new:
        original = settings.path.read_text(encoding="utf-8")
        updated = original.rstrip("\n") + "\n" + feeds_toml(new)
        settings.path.write_text(updated, encoding="utf-8")
        try:
            load_settings(settings.path)  # never leave a configuration we cannot read
        except Exception:
            settings.path.write_text(original, encoding="utf-8")
            raise
    click.echo(
        f"imported {len(new)} feed(s) into {settings.path} ({len(found) - len(new)} already there)"
    )


@feeds.command("export-opml")
@click.pass_obj
def export_opml(app: AppContext) -> None:
    """Write the configured feeds as OPML to standard output."""
    sys.stdout.buffer.write(render_opml(app.settings.feeds))
