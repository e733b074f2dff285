"""The `monitor` command line. Only this package turns exceptions into messages and exit codes."""

from __future__ import annotations

import atexit
import gc
import importlib
import logging
import sys
from pathlib import Path

import click
from sqlalchemy.exc import SQLAlchemyError

from monitor import __version__
from monitor.errors import MonitorError
from monitor.run.context import AppContext

# name -> "module:attribute". Commands are imported when they run, so that `monitor status`
# does not pay for the extraction and matching libraries that `monitor poll` needs.
COMMANDS = {
    "init": "monitor.cli.core:init",
    "poll": "monitor.cli.core:poll",
    "run": "monitor.cli.core:run",
    "digest": "monitor.cli.digest:digest",
    "inspect": "monitor.cli.inspect:inspect",
    "compare": "monitor.cli.compare:compare",
    "search": "monitor.cli.query:search",
    "status": "monitor.cli.query:status",
    "seed": "monitor.cli.core:seed",
    "retag": "monitor.cli.core:retag",
    "reindex": "monitor.cli.core:reindex",
    "feeds": "monitor.cli.feeds:feeds",
    "export": "monitor.cli.query:export",
    "worker": "monitor.cli.worker:worker",
    "serve": "monitor.cli.web:serve",
}


class LazyGroup(click.Group):
    """A group whose sub-commands live in modules loaded on first use (click's recipe)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command)
        return command


def setup_logging(verbose: bool) -> None:
    """One line per event on stderr; cron mails what a run says, so keep it short."""
    level = logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("httpx", "httpcore", "trafilatura", "htmldate", "courlan", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="monitor")
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="MONITOR_CONFIG",
    default=None,
    help="Configuration file (default ./config.toml, env MONITOR_CONFIG).",
)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.pass_context
def cli(ctx: click.Context, config: Path | None, verbose: bool) -> None:
    """Poll news feeds, store articles, find what is new, mail a daily digest."""
    setup_logging(verbose)
    app = AppContext(config)
    ctx.obj = app
    ctx.call_on_close(app.close)


def main(argv: list[str] | None = None) -> None:
    """Entry point: one-line errors, exit 0 / 1 (runtime) / 2 (usage or configuration)."""
    if argv is None:  # the process is this command (not a test calling it in-process)
        # At exit, the interpreter's last garbage collections would visit every object
        # left (about 0.4 s of CPU after a poll) only to free memory that the exit gives
        # back anyway; frozen, they are skipped (reference counting still frees objects).
        atexit.register(gc.freeze)
    try:
        code = cli.main(args=argv, prog_name="monitor", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("monitor: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2 if exc.exit_code == 2 else exc.exit_code)
    except MonitorError as exc:
        click.echo(f"monitor: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except SQLAlchemyError as exc:  # a full disk, a read-only file: the work was rolled back
        reason = getattr(exc, "orig", None) or exc
        click.echo(
            f"monitor: error: database: {reason} (the transaction was rolled back)", err=True
        )
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("monitor: interrupted", err=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
