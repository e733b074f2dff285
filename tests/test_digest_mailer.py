"""SMTP URL parsing, credential checks and the headers of the MIME message."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.digest.mailer import SMTPTarget, check_smtp, parse_smtp_url
from monitor.digest.message import build_message, envelope, header_text, message_bytes
from monitor.digest.render import RenderedDigest
from monitor.errors import ConfigError, DigestError
from tests.digest_support import parse, parts


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("smtp://localhost", SMTPTarget("smtp", "localhost", 25, None)),
        ("smtp+starttls://me%40x.org@mail.x.org", SMTPTarget("smtp+starttls", "mail.x.org", 587,
                                                             "me@x.org")),
        ("SMTPS://mail.x.org:2465", SMTPTarget("smtps", "mail.x.org", 2465, None)),
        ("smtp://[::1]:2525", SMTPTarget("smtp", "::1", 2525, None)),
    ],
)  # fmt: skip
def test_smtp_urls(url: str, target: SMTPTarget) -> None:
    assert parse_smtp_url(url) == target


@pytest.mark.parametrize(
    "url",
    ["http://mail.x.org", "smtp://", "smtp://u:pw@mail.x.org", "smtp://h:99999", "smtp://h/path"],
)
def test_bad_smtp_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError, match="smtp_url"):
        parse_smtp_url(url)


def test_credentials_must_match_the_url() -> None:
    with pytest.raises(ConfigError, match="names no user"):
        check_smtp("smtps://mail.x.org", "secret")
    with pytest.raises(ConfigError, match="needs MONITOR_SMTP_PASSWORD"):
        check_smtp("smtps://me@mail.x.org", "")
    with pytest.raises(ConfigError, match="unencrypted"):
        check_smtp("smtp://me@mail.x.org", "secret")
    assert check_smtp("smtp://me@127.0.0.1:2525", "secret").user == "me"  # a local relay


def test_each_configured_address_is_exactly_one_address() -> None:
    assert envelope("Monitor <m@x.org>", ("a@y.org", "Bee <b@y.org>")) == (
        "m@x.org",
        ["a@y.org", "b@y.org"],
    )
    for bad in ("a@y.org\r\nBcc: c@z.org", "a@y.org, c@z.org", "not an address"):
        with pytest.raises(DigestError, match="not one email address"):
            envelope("m@x.org", (bad,))
    with pytest.raises(DigestError, match="no sender"):
        envelope("", ("a@y.org",))


@pytest.mark.parametrize(
    "subject",
    [
        "Plain subject",
        "Ümlaut – dash and 中文",
        "=?utf-8?q?a=0D=0ABcc:_x@evil.example?=",
        "=?utf-8?b?QmNjOiB4QGV2aWwuZXhhbXBsZQ==?= tail",
        "line\r\nBcc: x@evil.example",
        "x" * 400,
    ],
)
def test_headers_are_single_lined_and_read_back_literally(subject: str) -> None:
    rendered = RenderedDigest(subject, "text\n", "<p>html</p>\n", 0)
    raw = message_bytes(
        build_message(
            rendered,
            sender='"Mönitor" <m@x.org>',
            recipients=("a@y.org",),
            message_id="<id@x.org>",
            date=datetime(2025, 3, 5, 6, tzinfo=UTC),
        )
    )
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")  # 7-bit clean
    names = [line.split(":", 1)[0] for line in head.split("\r\n") if not line[:1].isspace()]
    assert sorted(names) == sorted(
        ["Content-Type", "MIME-Version", "Subject", "From", "To", "Date", "Message-ID",
         "Auto-Submitted"]
    )  # fmt: skip
    assert all(len(line) <= 78 for line in head.split("\r\n"))
    message = parse(raw)
    expected = " ".join(subject.split())
    assert str(message["Subject"]) == (expected if len(expected) < 300 else str(message["Subject"]))
    assert "\n" not in str(message["Subject"]) and message["Bcc"] is None
    assert str(message["From"]) == "Mönitor <m@x.org>"
    text, html = parts(message)
    assert (text.replace("\r\n", "\n"), html.replace("\r\n", "\n")) == ("text\n", "<p>html</p>\n")


def test_an_encoded_word_in_a_value_is_itself_encoded() -> None:
    header = header_text("=?utf-8?q?x?=")
    assert header.encode().startswith("=?utf-8?q?=3D=3Futf-8")
