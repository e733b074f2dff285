"""Configuration: `config.toml` + environment, parsed once into frozen, typed settings.

Every table maps onto a frozen dataclass by field name; unknown keys and wrong types are
errors that name the file and the key. Defaults live on the dataclasses (one table).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import quote_plus, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from monitor.config.dedup import DedupSettings, tuned_for
from monitor.config.sections import (
    DigestSettings,
    ExtractSettings,
    FeedConfig,
    FetchSettings,
    QueueSettings,
    ScheduleSettings,
    TaggingSettings,
    WebSettings,
)
from monitor.errors import ConfigError

T = TypeVar("T")


@dataclass(frozen=True)
class Settings:
    path: Path
    base_dir: Path
    database_url: str
    seeds_dir: Path
    topics_file: Path
    lock_file: Path
    feeds: tuple[FeedConfig, ...] = ()
    fetch: FetchSettings = FetchSettings()
    extract: ExtractSettings = ExtractSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    digest: DigestSettings = DigestSettings()
    dedup: DedupSettings = DedupSettings()
    tagging: TaggingSettings = TaggingSettings()
    queue: QueueSettings = QueueSettings()
    web: WebSettings = WebSettings()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.digest.timezone)

    def feed(self, name: str) -> FeedConfig | None:
        return next((f for f in self.feeds if f.name == name), None)


def _check_type(value: Any, hint: Any, path: str, key: str) -> Any:
    """Return `value` converted to `hint` (lists -> tuples, ints -> floats) or raise."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _check_type(value, arg, path, key)
            except ConfigError:
                pass
        raise ConfigError(path, key, f"expected {_describe(hint)}, got {value!r}")
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(path, key, f"expected a list, got {value!r}")
        (item,) = typing.get_args(hint)[:1]
        return tuple(_check_type(v, item, path, key) for v in value)
    if origin in (Mapping, dict) or hint is Mapping:
        if not isinstance(value, dict):
            raise ConfigError(path, key, f"expected a table, got {value!r}")
        _, vt = typing.get_args(hint)
        return {str(k): _check_type(v, vt, path, f"{key}.{k}") for k, v in value.items()}
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(path, key, f"expected a number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(path, key, f"expected an integer, got {value!r}")
        return value
    if hint in (str, bool):
        if not isinstance(value, hint):
            raise ConfigError(path, key, f"expected {_describe(hint)}, got {value!r}")
        return value
    raise ConfigError(path, key, f"unsupported setting type {hint!r}")


def _describe(hint: Any) -> str:
    names = {str: "a string", bool: "true or false", int: "an integer", float: "a number"}
    if hint in names:
        return names[hint]
    return " or ".join(_describe(a) for a in typing.get_args(hint) if a is not type(None))


@functools.cache
def _fields(cls: Any) -> tuple[dict[str, Any], frozenset[str]]:
    """Type hints and field names of a settings class (cached: there is one per feed)."""
    return typing.get_type_hints(cls), frozenset(f.name for f in dataclasses.fields(cls))


def build_section(cls: type[T], table: Any, path: str, prefix: str) -> T:
    """Map a TOML table onto the frozen dataclass `cls`, naming the bad key on error."""
    if not isinstance(table, dict):
        raise ConfigError(path, prefix, "expected a table")
    hints, known = _fields(cast(Any, cls))
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in known:
            raise ConfigError(
                path, f"{prefix}.{key}", f"unknown setting (known: {', '.join(sorted(known))})"
            )
        values[key] = _check_type(value, hints[key], path, f"{prefix}.{key}")
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(path, prefix, str(exc)) from exc


def _dedup_table(table: Any) -> Any:
    """The [dedup] table over the settings tuned for its embedder (the user's keys win)."""
    if not isinstance(table, dict):
        return table
    return {**tuned_for(table.get("embedder")), **table}


def _search_feeds(table: Any, path: str) -> list[FeedConfig]:
    """Topic-search feeds: one feed per query, URL built from a template with {query}."""
    if not isinstance(table, dict):
        raise ConfigError(path, "search", "expected a table")
    template = table.get("template")
    queries = table.get("queries", {})
    if not queries:
        return []
    if not isinstance(template, str) or "{query}" not in template:
        raise ConfigError(path, "search.template", "must be a URL containing {query}")
    if not isinstance(queries, dict):
        raise ConfigError(path, "search.queries", "expected a table of topic = query")
    unknown = set(table) - {"template", "queries", "allow_private"}
    if unknown:
        raise ConfigError(path, f"search.{sorted(unknown)[0]}", "unknown setting")
    feeds = []
    for topic, query in queries.items():
        if not isinstance(query, str) or not query.strip():
            raise ConfigError(path, f"search.queries.{topic}", "expected a non-empty query string")
        url = template.replace("{query}", quote_plus(query))
        feeds.append(FeedConfig(name=f"search:{topic}", url=url, topic=topic))
    return feeds


def _feeds(items: Any, path: str) -> list[FeedConfig]:
    if not isinstance(items, list):
        raise ConfigError(path, "feeds", "expected an array of tables ([[feeds]])")
    feeds = []
    for i, item in enumerate(items):
        feed = build_section(FeedConfig, item, path, f"feeds[{i}]")
        if not feed.name.strip():
            raise ConfigError(path, f"feeds[{i}].name", "must not be empty")
        if urlsplit(feed.url).scheme not in ("http", "https"):
            raise ConfigError(
                path, f"feeds[{i}].url", f"only http(s) URLs are polled, got {feed.url!r}"
            )
        feeds.append(feed)
    return feeds


def _env_list(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def _resolve(base: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p


def _sqlite_url(base: Path, url: str) -> str:
    """Make a relative SQLite path relative to the configuration file, not the cwd."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith("sqlite:////") and ":memory:" not in url:
        return prefix + str(_resolve(base, url[len(prefix) :]))
    return url


def load_settings(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read the configuration file (missing keys take defaults) and apply env overrides."""
    env = os.environ if env is None else env
    if path is None:
        path = Path(env.get("MONITOR_CONFIG", "config.toml"))
    where = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(where, None, "configuration file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(where, None, f"cannot read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(where, None, f"not valid TOML: {exc}") from exc

    known = {
        "database",
        "seeds",
        "feeds",
        "search",
        "fetch",
        "extract",
        "schedule",
        "digest",
        "dedup",
        "tagging",
        "queue",
        "web",
    }
    for key in data:
        if key not in known:
            raise ConfigError(where, key, f"unknown section (known: {', '.join(sorted(known))})")
    base = path.resolve().parent

    db = data.get("database", {})
    if not isinstance(db, dict) or set(db) - {"url"}:
        raise ConfigError(where, "database", "expected a table with only `url`")
    db_url = env.get("MONITOR_DATABASE_URL") or db.get("url", "sqlite:///data/monitor.db")
    if not isinstance(db_url, str) or "://" not in db_url:
        raise ConfigError(where, "database.url", f"not a database URL: {db_url!r}")
    db_url = _sqlite_url(base, db_url)

    seeds = data.get("seeds", {})
    if not isinstance(seeds, dict) or set(seeds) - {"dir", "topics"}:
        raise ConfigError(where, "seeds", "expected a table with `dir` and `topics`")
    seeds_dir = _resolve(base, env.get("MONITOR_SEEDS_DIR") or str(seeds.get("dir", "seeds")))
    topics_file = _resolve(seeds_dir, str(seeds.get("topics", "topics.toml")))

    fetch = build_section(FetchSettings, data.get("fetch", {}), where, "fetch")
    if "MONITOR_ALLOW_HOSTS" in env:
        hosts = fetch.allow_hosts + _env_list(env["MONITOR_ALLOW_HOSTS"])
        fetch = dataclasses.replace(fetch, allow_hosts=hosts)
    extract = build_section(ExtractSettings, data.get("extract", {}), where, "extract")
    if extract.mode not in ("fast", "precision", "default", "recall"):
        raise ConfigError(where, "extract.mode", "must be fast, precision, recall or default")
    schedule = build_section(ScheduleSettings, data.get("schedule", {}), where, "schedule")
    digest_table = data.get("digest", {})
    if isinstance(digest_table, dict) and "smtp_password" in digest_table:
        raise ConfigError(
            where,
            "digest.smtp_password",
            "secrets come from the environment: set MONITOR_SMTP_PASSWORD",
        )
    if isinstance(digest_table, dict) and "web_url" in digest_table:
        raise ConfigError(where, "digest.web_url", "set [web] base_url instead")
    digest = build_section(DigestSettings, digest_table, where, "digest")
    overrides: dict[str, Any] = {}
    for var, name in (
        ("MONITOR_SMTP_URL", "smtp_url"),
        ("MONITOR_SMTP_PASSWORD", "smtp_password"),
        ("MONITOR_DIGEST_FROM", "sender"),
    ):
        if env.get(var):
            overrides[name] = env[var]
    if env.get("MONITOR_DIGEST_TO"):
        overrides["recipients"] = _env_list(env["MONITOR_DIGEST_TO"])
    digest = dataclasses.replace(digest, **overrides)
    try:
        ZoneInfo(digest.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            where, "digest.timezone", f"unknown time zone {digest.timezone!r}"
        ) from None
    hh, _, mm = digest.time.partition(":")
    if not (hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60):
        raise ConfigError(where, "digest.time", f"expected HH:MM, got {digest.time!r}")
    if urlsplit(digest.smtp_url).scheme not in ("smtp", "smtp+starttls", "smtps"):
        raise ConfigError(
            where, "digest.smtp_url", "must start with smtp://, smtp+starttls:// or smtps://"
        )

    feeds = _search_feeds(data.get("search", {}), where) + _feeds(data.get("feeds", []), where)
    names = [f.name for f in feeds]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(where, "feeds", f"feed name used twice: {dupes[0]!r}")

    queue = build_section(QueueSettings, data.get("queue", {}), where, "queue")
    if env.get("MONITOR_BROKER_URL"):
        queue = dataclasses.replace(queue, broker_url=env["MONITOR_BROKER_URL"])

    web = build_section(WebSettings, data.get("web", {}), where, "web")
    if web.base_url and urlsplit(web.base_url).scheme not in ("http", "https"):
        raise ConfigError(where, "web.base_url", f"expected an http(s) URL, got {web.base_url!r}")
    if not 0 < web.port < 65536:
        raise ConfigError(where, "web.port", f"expected a port number, got {web.port}")
    if web.feed_entries < 1:
        raise ConfigError(where, "web.feed_entries", "must be at least 1")
    if digest.max_per_topic < 0:
        raise ConfigError(where, "digest.max_per_topic", "must be 0 (no limit) or more")
    web = dataclasses.replace(web, base_url=web.base_url.rstrip("/"))
    digest = dataclasses.replace(digest, web_url=web.base_url)

    lock_dir = base / "data"
    if db_url.startswith("sqlite:///") and ":memory:" not in db_url:
        lock_dir = Path(db_url[len("sqlite:///") :]).parent
    return Settings(
        path=path,
        base_dir=base,
        database_url=db_url,
        seeds_dir=seeds_dir,
        topics_file=topics_file,
        lock_file=lock_dir / "monitor.lock",
        feeds=tuple(feeds),
        fetch=fetch,
        extract=extract,
        schedule=schedule,
        digest=digest,
        dedup=build_section(DedupSettings, _dedup_table(data.get("dedup", {})), where, "dedup"),
        tagging=build_section(TaggingSettings, data.get("tagging", {}), where, "tagging"),
        queue=queue,
        web=web,
    )
