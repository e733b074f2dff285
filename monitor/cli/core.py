"""Commands that change the database: init, poll, run, seed, retag."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import click
from sqlmodel import Session, col, select

from monitor.cli.progress import PollProgress
from monitor.dedup import DocRef
from monitor.errors import LockedError, UsageError
from monitor.extract.seeds import SEED_SUFFIXES, read_seed_file
from monitor.run.context import AppContext
from monitor.run.lock import poll_lock
from monitor.run.pipeline import Poller
from monitor.store.db import migrate, session_scope
from monitor.store.dedup_index import DedupIndex
from monitor.store.models import Article, SeedSection
from monitor.store.write import save_section_topics, save_seed, save_topics

log = logging.getLogger("monitor")


def load_seed_folder(app: AppContext) -> tuple[int, int]:
    """Load every seed file of the seeds folder (unchanged files are skipped)."""
    folder = app.settings.seeds_dir
    if not folder.is_dir():
        return 0, 0
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in SEED_SUFFIXES)
    return load_seed_files(app, [(p, p.name) for p in files])


def load_seed_files(app: AppContext, files: list[tuple[Path, str]]) -> tuple[int, int]:
    loaded = sections = 0
    engine = app.engine()
    docs = [doc for path, key in files for doc in read_seed_file(path, key)]
    with session_scope(engine) as session:
        tagger = app.tagger(None)
        index = DedupIndex(session, app.settings.dedup)
        for doc in docs:
            if save_seed(session, doc, index, tagger):
                loaded += 1
                sections += len(doc.sections)
    return loaded, sections


@click.command()
@click.pass_obj
def init(app: AppContext) -> None:
    """Create or upgrade the schema and load seeds/ (idempotent)."""
    engine = app.engine(check=False)
    migrate(engine)
    _ = app.topics  # a broken topics.toml is reported now, not at the first poll
    loaded, sections = load_seed_folder(app)
    with Session(engine) as session:
        total = len(session.exec(select(SeedSection.id)).all())
    click.echo(f"database ready: {app.settings.database_url}")
    click.echo(
        f"seeds: {loaded} document(s) loaded now ({sections} sections); "
        f"{total} sections in the corpus"
    )


@click.command()
@click.option(
    "--feed", "names", multiple=True, metavar="NAME", help="Poll only this feed (repeatable)."
)
@click.option("--all", "everything", is_flag=True, help="Ignore schedules: poll every feed now.")
@click.pass_obj
def poll(app: AppContext, names: tuple[str, ...], everything: bool) -> None:
    """One polling cycle over the feeds that are due (for cron)."""
    settings = app.settings
    for name in names:
        if settings.feed(name) is None:
            raise UsageError(f"no feed named {name!r} in {settings.path}")
    engine = app.engine()
    try:
        with poll_lock(settings.lock_file, settings.schedule.lock_timeout):
            with Session(engine) as session:
                tagger = app.tagger(session)
            poller = Poller(engine, settings, tagger, reporter=PollProgress())
            try:
                stats = poller.poll(list(names) or None, everything)
            finally:
                poller.close()
    except LockedError as exc:
        click.echo(f"monitor: {exc}", err=True)
        return
    click.echo(
        f"polled {stats.feeds} feed(s): {stats.failed} failed, {stats.not_modified} unchanged, "
        f"{stats.new_entries} new entries, {stats.articles} articles stored "
        f"({stats.duplicates} duplicates, {stats.embedded} needed the embedding model)"
    )


@click.command()
@click.option(
    "--scheduler-only",
    is_flag=True,
    help="Queue due feeds for `monitor worker` processes instead of polling them here.",
)
@click.pass_obj
def run(app: AppContext, scheduler_only: bool) -> None:
    """The daemon: poll feeds as they fall due and send the daily digest; stop with SIGTERM."""
    if scheduler_only:
        from monitor.run.worker import Scheduler

        Scheduler(app).start()
        return
    from monitor.run.daemon import run_daemon

    run_daemon(app)


@click.command()
@click.argument(
    "paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.pass_obj
def seed(app: AppContext, paths: tuple[Path, ...]) -> None:
    """Add documents (txt, md, html, jsonl) to the seed corpus (copied into seeds/)."""
    folder = app.settings.seeds_dir
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for path in paths:
        if path.suffix.lower() not in SEED_SUFFIXES:
            raise UsageError(f"{path}: unsupported seed file type (use {', '.join(SEED_SUFFIXES)})")
        read_seed_file(path, path.name)  # validate before copying anything
        target = folder / path.name
        if path.resolve() != target.resolve():
            if target.exists() and target.read_bytes() != path.read_bytes():
                raise UsageError(f"{target} exists with other content; rename {path}")
            shutil.copyfile(path, target)
        files.append((target, target.name))
    loaded, sections = load_seed_files(app, files)
    click.echo(f"seeds: {loaded} document(s) added ({sections} sections)")


@click.command()
@click.option("--batch-size", default=500, show_default=True, help="Articles per commit.")
@click.pass_obj
def retag(app: AppContext, batch_size: int) -> None:
    """Re-tag every seed section and article with the current topic schema."""
    engine = app.engine()
    with session_scope(engine) as session:
        tagger = app.tagger(session)
        for sec in session.exec(select(SeedSection)):
            assert sec.id is not None
            save_section_topics(session, sec.id, tagger.tag(sec.title, sec.text))
    done, last = 0, 0
    while True:
        with session_scope(engine) as session:
            rows = session.exec(
                select(col(Article.id), Article.title, Article.text)
                .where(col(Article.id) > last)
                .order_by(col(Article.id))
                .limit(batch_size)
            ).all()
            for article_id, title, text in rows:
                assert article_id is not None
                save_topics(session, article_id, tagger.tag(title, text))
        if not rows:
            break
        done += len(rows)
        last = rows[-1][0] or last
    click.echo(f"retagged {done} article(s)")


@click.command()
@click.option("--batch-size", default=200, show_default=True, help="Articles per commit.")
@click.pass_obj
def reindex(app: AppContext, batch_size: int) -> None:
    """Recompute the dedup fingerprints of every seed section and article with the current
    [dedup] settings: after changing `embedder`, `english_embedder` or `model_dir`, so that
    stored articles match new ones again. Verdicts already stored are kept. Waits for the
    poll lock."""
    engine = app.engine()
    settings = app.settings
    with poll_lock(settings.lock_file, settings.schedule.lock_timeout):
        with session_scope(engine) as session:
            index = DedupIndex(session, settings.dedup)
            sections = session.exec(select(SeedSection)).all()
            for sec in sections:
                assert sec.id is not None
                index.add(DocRef("section", sec.id), sec.title, sec.text, None)
        done, last = 0, 0
        while True:
            with session_scope(engine) as session:
                index = DedupIndex(session, settings.dedup)
                rows = session.exec(
                    select(col(Article.id), Article.title, Article.text, Article.published)
                    .where(col(Article.id) > last)
                    .order_by(col(Article.id))
                    .limit(batch_size)
                ).all()
                for article_id, title, text, published in rows:
                    assert article_id is not None
                    index.add(DocRef("article", article_id), title, text, published)
            if not rows:
                break
            done += len(rows)
            last = rows[-1][0] or last
            log.info("reindexed %d articles", done)
    click.echo(f"reindexed {len(sections)} seed section(s) and {done} article(s)")
