"""`monitor serve`: the local web view (Datasette, read-only) and the Atom feeds."""

from __future__ import annotations

import click

from monitor.digest import load_topic_names
from monitor.run.context import AppContext


@click.command()
@click.option("--host", default=None, help="Address to bind ([web] host, default 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="Port to listen on ([web] port, default 8001).")  # fmt: skip
@click.pass_obj
def serve(app: AppContext, host: str | None, port: int | None) -> None:
    """Browse the database in a web browser and follow new stories as Atom feeds (read-only).

    Opens on today's stories per topic, questions to ask (canned queries), a chart and
    full-text search; /-/atom/all.atom and /-/atom/TOPIC.atom are the feeds. Binds to
    loopback unless told otherwise: the view has no login.
    """
    from monitor.web.server import serve as run_server

    settings = app.settings
    run_server(
        settings,
        load_topic_names(settings.topics_file),
        host or settings.web.host,
        port or settings.web.port,
    )
