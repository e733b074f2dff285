"""Progress for long work: a Rich bar on a terminal, log lines only under cron."""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.progress import Progress

log = logging.getLogger("monitor.poll")


class PollProgress:
    """A `Reporter` for the poller (see monitor.run.pipeline)."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.bar: Progress | None = None
        self.feeds_task: Any = None
        self.articles_task: Any = None

    def __call__(self, event: str, data: dict[str, Any]) -> None:
        if event == "start" and self.enabled:
            # Imported here: under cron (no terminal) a poll never pays for Rich.
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                transient=True,
            )
            self.bar.start()
            self.feeds_task = self.bar.add_task("feeds", total=data["feeds"])
            self.articles_task = self.bar.add_task("articles", total=0)
        elif event == "feed":
            if "error" not in data:  # the poller logs failures itself
                log.info("feed polled feed=%s new_entries=%d", data["name"], data["new"])
            if self.bar is not None:
                self.bar.advance(self.feeds_task)
                task = self.bar.tasks[self.articles_task]
                self.bar.update(self.articles_task, total=(task.total or 0) + data.get("new", 0))
        elif event == "queue" and self.bar is not None:
            # Pages waiting for their host's politeness slots: say so rather than look stuck.
            host, queued = next(iter(data["hosts"].items()))
            self.bar.update(
                self.articles_task,
                description=f"articles ({data['queued']} waiting, {queued} for {host})",
            )
        elif event == "article" and self.bar is not None:
            self.bar.advance(self.articles_task)
        elif event == "done" and self.bar is not None:
            self.bar.stop()
            self.bar = None
