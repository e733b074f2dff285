"""Configuration: defaults, environment overrides, and precise errors (exit code 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config.load import load_settings
from monitor.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_empty_file_is_valid(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, ""), env={})
    assert settings.feeds == ()
    assert settings.database_url == f"sqlite:///{tmp_path / 'data' / 'monitor.db'}"
    assert settings.seeds_dir == tmp_path / "seeds"
    assert settings.topics_file == tmp_path / "seeds" / "topics.toml"
    assert settings.lock_file == tmp_path / "data" / "monitor.lock"


def test_shipped_config_has_search_and_site_feeds() -> None:
    settings = load_settings(ROOT / "config.toml", env={})
    names = [f.name for f in settings.feeds]
    assert len([n for n in names if n.startswith("search:")]) == 14
    deepseek = settings.feed("search:deepseek")
    assert deepseek is not None and "q=DeepSeek" in deepseek.url
    assert "https://openai.com/news/rss.xml" in {f.url for f in settings.feeds}
    assert all(f.url.startswith("https://") for f in settings.feeds)


def test_shipped_config_repeats_the_tuned_defaults() -> None:
    """config.toml documents every dedup and tagging knob with the value the code uses."""
    from monitor.config.dedup import DedupSettings
    from monitor.config.sections import TaggingSettings

    settings = load_settings(ROOT / "config.toml", env={})
    assert settings.dedup == DedupSettings()
    assert settings.tagging == TaggingSettings()


def test_the_web_section_and_the_digest_links(tmp_path: Path) -> None:
    from monitor.config.sections import WebSettings

    shipped = load_settings(ROOT / "config.toml", env={})
    assert shipped.web == WebSettings() and shipped.digest.web_url == ""
    assert shipped.digest.max_per_topic == 10 and shipped.digest.include_untagged is False
    text = "[web]\nbase_url = 'https://news.example/monitor/'\nport = 9000\n"
    settings = load_settings(write(tmp_path, text), env={})
    assert settings.web.base_url == settings.digest.web_url == "https://news.example/monitor"
    assert (settings.web.host, settings.web.port) == ("127.0.0.1", 9000)


def test_static_embedder_brings_its_tuned_settings_unless_set(tmp_path: Path) -> None:
    from monitor.config.dedup import STATIC_TUNED, DedupSettings

    static = load_settings(write(tmp_path, "[dedup]\nembedder = 'static'\n"), env={}).dedup
    assert static.embedder == "static"
    assert {k: getattr(static, k) for k in STATIC_TUNED} == STATIC_TUNED
    assert static.same_story_threshold != DedupSettings().same_story_threshold
    text = "[dedup]\nembedder = 'static'\nsame_story_threshold = 0.6\n"
    mine = load_settings(write(tmp_path, text), env={}).dedup
    assert mine.same_story_threshold == 0.6  # the user's value wins
    assert mine.head_tokens == STATIC_TUNED["head_tokens"]


def test_environment_overrides(tmp_path: Path) -> None:
    env = {
        "MONITOR_DATABASE_URL": "sqlite:////tmp/other.db",
        "MONITOR_SEEDS_DIR": str(tmp_path / "corpus"),
        "MONITOR_ALLOW_HOSTS": "127.0.0.1, 10.0.0.0/8",
        "MONITOR_SMTP_URL": "smtps://bot@mail.example.com:465",
        "MONITOR_SMTP_PASSWORD": "s3cret",
        "MONITOR_DIGEST_FROM": "bot@example.com",
        "MONITOR_DIGEST_TO": "a@example.com, b@example.com",
    }
    s = load_settings(write(tmp_path, "[digest]\ntimezone = 'Asia/Shanghai'\n"), env=env)
    assert s.database_url == "sqlite:////tmp/other.db"
    assert s.seeds_dir == tmp_path / "corpus"
    assert s.fetch.allow_hosts == ("127.0.0.1", "10.0.0.0/8")
    assert s.digest.smtp_url == "smtps://bot@mail.example.com:465"
    assert s.digest.smtp_password == "s3cret" and "s3cret" not in repr(s.digest)
    assert s.digest.recipients == ("a@example.com", "b@example.com")
    assert s.zone.key == "Asia/Shanghai"


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ("[fetch]\ntimeout = 3\n", "fetch.timeout", "unknown setting"),
        ("[fetch]\nmax_bytes = 'big'\n", "fetch.max_bytes", "expected an integer"),
        ("[bogus]\n", "bogus", "unknown section"),
        ("[digest]\ntimezone = 'Mars/Olympus'\n", "digest.timezone", "unknown time zone"),
        ("[digest]\ntime = '25:00'\n", "digest.time", "HH:MM"),
        ("[digest]\nsmtp_password = 'x'\n", "digest.smtp_password", "environment"),
        ("[[feeds]]\nname = 'a'\nurl = 'ftp://x/feed'\n", "feeds[0].url", "http(s)"),
        ("[[feeds]]\nname = 'a'\n", "feeds[0]", "url"),
        (
            "[[feeds]]\nname='a'\nurl='https://a/1'\n[[feeds]]\nname='a'\nurl='https://a/2'\n",
            "feeds",
            "used twice",
        ),
        (
            "[search]\ntemplate = 'https://x/?q='\n[search.queries]\nnvidia = 'Nvidia'\n",
            "search.template",
            "{query}",
        ),
        ("[extract]\nmode = 'turbo'\n", "extract.mode", "fast"),
        ("[dedup]\nembedder = 'bert'\n", "dedup", "minilm or static"),
        ("[web]\nbase_url = 'news.example'\n", "web.base_url", "http(s)"),
        ("[web]\nport = 70000\n", "web.port", "port"),
        ("[web]\nfeed_entries = 0\n", "web.feed_entries", "at least 1"),
        ("[digest]\nweb_url = 'http://x'\n", "digest.web_url", "[web] base_url"),
        ("[digest]\nmax_per_topic = -1\n", "digest.max_per_topic", "0 (no limit)"),
    ],
)
def test_errors_name_file_and_key(tmp_path: Path, text: str, key: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert info.value.key == key
    assert message in info.value.message
    assert str(path) in str(info.value)


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path, "[fetch\n"), env={})
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml", env={})


def test_cli_reports_config_errors_with_exit_2(workdir: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    (workdir / "config.toml").write_text("[fetch]\nconcurrency = 'many'\n")
    result = run_cli("status")
    assert result.code == 2
    assert "fetch.concurrency" in result.err and "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1
    result = run_cli("--config", str(workdir / "missing.toml"), "poll")
    assert result.code == 2 and "not found" in result.err


def test_unreachable_database_is_exit_1(workdir: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    (workdir / "config.toml").write_text("")
    result = run_cli("status")
    assert result.code == 1 and "monitor init" in result.err
