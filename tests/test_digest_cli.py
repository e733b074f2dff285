"""`monitor digest` through the real command line, against a real SMTP server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.digest_support import Recorder, make_db, parse, parts, populate, smtp_server


@pytest.fixture
def project(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (workdir / "data").mkdir()
    monkeypatch.setenv("MONITOR_DATABASE_URL", f"sqlite:///{workdir / 'data' / 'monitor.db'}")
    populate(make_db(workdir / "data"))
    return workdir


def configure(workdir: Path, port: int = 1) -> None:
    (workdir / "config.toml").write_text(f"""
[digest]
timezone = "Europe/Berlin"
sender = "Monitor <monitor@example.org>"
recipients = ["analyst@example.com"]
smtp_url = "smtp://127.0.0.1:{port}"
max_attempts = 2
retry_wait = 0.0
""", encoding="utf-8")  # fmt: skip


def test_prints_the_text_of_a_day(project: Path, run_cli: Any) -> None:
    configure(project)
    result = run_cli("digest", "--date", "2025-03-04")
    assert result.code == 0, result.err
    assert "DEEPSEEK (3)" in result.out and "Open-source AI" in result.out  # names from seeds/


def test_writes_the_message_or_its_html(project: Path, run_cli: Any) -> None:
    configure(project)
    assert run_cli("digest", "--date", "2025-03-04", "--out", "d.eml").code == 0
    assert run_cli("digest", "--date", "2025-03-04", "--out", "d.html").code == 0
    message = parse((project / "d.eml").read_bytes())
    assert message["Subject"] == "News digest for 2025-03-04"
    _, html = parts(message)
    assert (project / "d.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert "DeepSeek releases R2" in html


def test_sends_once(project: Path, run_cli: Any) -> None:
    recorder = Recorder()
    with smtp_server(recorder) as port:
        configure(project, port)
        first = run_cli("digest", "--date", "2025-03-04", "--send")
        second = run_cli("digest", "--date", "2025-03-04", "--send")
        forced = run_cli("digest", "--date", "2025-03-04", "--send", "--force")
    assert first.code == 0 and "sent, 6 stories, 1 attempt(s)" in first.out, first.err
    assert second.code == 0 and "already sent" in second.out
    assert forced.code == 0 and len(recorder.accepted) == 2


def test_a_permanent_failure_is_one_line_and_exit_1(project: Path, run_cli: Any) -> None:
    recorder = Recorder(script=["550 5.1.1 mailbox unavailable"])
    with smtp_server(recorder) as port:
        configure(project, port)
        result = run_cli("digest", "--date", "2025-03-04", "--send")
    assert result.code == 1
    assert "550 5.1.1 mailbox unavailable" in result.err and "Traceback" not in result.err
    assert result.out == "" and result.err.count("\n") == 1
    assert "may have been delivered" not in result.err  # the server answered: not taken


@pytest.mark.parametrize(
    "args",
    [("--date", "04/03/2025"), ("--out", "digest.pdf"), ("--force",)],
)
def test_bad_usage_exits_2(project: Path, run_cli: Any, args: tuple[str, ...]) -> None:
    configure(project)
    result = run_cli("digest", *args)
    assert result.code == 2, result.err
