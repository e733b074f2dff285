"""The one exception tree of the program; only the CLI turns these into messages and exit codes."""

from __future__ import annotations


class MonitorError(Exception):
    """Base of every error the program raises on purpose."""

    exit_code = 1


class ConfigError(MonitorError):
    """The configuration (or a file it points at) is wrong: exit code 2."""

    exit_code = 2

    def __init__(self, path: str, key: str | None, message: str) -> None:
        self.path = path
        self.key = key
        self.message = message
        where = f"{path}: {key}" if key else path
        super().__init__(f"{where}: {message}")


class UsageError(MonitorError):
    """The command line asks for something impossible: exit code 2."""

    exit_code = 2


class DatabaseError(MonitorError):
    """The database cannot be opened or migrated."""


class FetchError(MonitorError):
    """A fetch failed; `hard` errors (refused address, bad scheme, 4xx) weigh more in back-off.

    `transient` ones (connect error, reset, timeout, 408, 425, 429, 5xx) may succeed if tried
    again later: a page that failed so is retried.
    """

    def __init__(
        self,
        url: str,
        message: str,
        *,
        hard: bool = False,
        status: int | None = None,
        retry_after: float | None = None,
        transient: bool = False,
    ) -> None:
        self.url = url
        self.message = message
        self.hard = hard
        self.status = status
        self.retry_after = retry_after
        self.transient = transient
        super().__init__(f"{message} ({url})")


class NotAFeedError(MonitorError):
    """The body fetched from a feed URL is not an RSS/Atom/RDF feed."""


class LockedError(MonitorError):
    """Another run holds the poll lock."""


class DigestError(MonitorError):
    """Building or sending the digest failed."""


class QueueError(MonitorError):
    """The message broker of the workers cannot be reached or refused a message."""
