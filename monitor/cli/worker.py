"""`monitor worker`: processes that take feed tasks from the broker (see monitor.run.worker)."""

from __future__ import annotations

import click

from monitor.run.context import AppContext


@click.command()
@click.option(
    "--processes",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes on this machine (each polls one feed at a time).",
)
@click.pass_obj
def worker(app: AppContext, processes: int) -> None:
    """Poll the feeds the scheduler queues (`monitor run --scheduler-only`); stop with SIGTERM."""
    from monitor.run.worker import run_workers

    run_workers(app, processes)
