"""Sending exactly once through a real SMTP server (aiosmtpd on 127.0.0.1) that can fail."""

from __future__ import annotations

import ssl
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from monitor.config.sections import DigestSettings
from monitor.digest import deliver_digest, send_daily_digest
from monitor.errors import DigestError, UsageError
from monitor.store.models import Digest
from tests.digest_support import (
    DAY,
    NOW,
    TOPICS,
    ZONE,
    Recorder,
    digest_settings,
    free_port,
    make_db,
    parse,
    parts,
    populate,
    smtp_server,
)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_db(tmp_path)
    populate(engine)
    return engine


def settings_for(port: int, **changes: Any) -> DigestSettings:
    return digest_settings(smtp_url=f"smtp://127.0.0.1:{port}", **changes)


def send(engine: Engine, settings: DigestSettings, **kwargs: Any) -> Any:
    return deliver_digest(engine, settings, ZONE, DAY, topic_names=TOPICS, now=NOW, **kwargs)


def row(engine: Engine) -> Digest:
    with Session(engine) as session:
        digest = session.exec(select(Digest).where(Digest.day == DAY.isoformat())).one()
        return digest


def message_ids(datas: list[bytes]) -> list[str]:
    return [str(parse(d)["Message-ID"]) for d in datas]


def test_sent_once_as_multipart_text_and_html(engine: Engine) -> None:
    recorder = Recorder()
    with smtp_server(recorder) as port:
        result = send(engine, settings_for(port))
        again = send(engine, settings_for(port))
    assert (result.state, result.sent_now, result.attempts) == ("sent", True, 1)
    assert (again.state, again.sent_now) == ("sent", False)
    assert len(recorder.attempts) == 1  # the second run sent nothing
    message = parse(recorder.accepted[0])
    assert message.get_content_type() == "multipart/alternative"
    kinds = [(p.get_content_type(), p.get_content_charset()) for p in message.iter_parts()]
    assert kinds == [("text/plain", "utf-8"), ("text/html", "utf-8")]
    assert message["Subject"] == "News digest for 2025-03-04"
    assert message["From"] == "Monitor <monitor@example.org>"
    assert message["To"] == "analyst@example.com"
    assert message["Message-ID"] == row(engine).message_id == result.message_id
    assert message["Message-ID"].endswith("@example.org>")
    text, html = parts(message)
    assert "DEEPSEEK (3)" in text and "Also reported by CNBC, The Verge." in text
    assert 'id="topic-deepseek"' in html and "<script>" not in html
    recorded = row(engine)
    assert (recorded.state, recorded.attempts, recorded.articles) == ("sent", 1, 6)
    assert recorded.sent_at is not None and recorded.last_error is None


def test_hostile_fields_reach_no_header_and_no_recipient(engine: Engine) -> None:
    recorder = Recorder()
    with smtp_server(recorder) as port:
        send(engine, settings_for(port, subject="{date} =?utf-8?q?a=0D=0ABcc:_x@evil.example?="))
    raw = recorder.accepted[0]
    message = parse(raw)
    assert message["Bcc"] is None
    assert message["Subject"] == "2025-03-04 =?utf-8?q?a=0D=0ABcc:_x@evil.example?="
    header_block = raw.split(b"\r\n\r\n", 1)[0]
    assert b"victim@" not in header_block and b"evil.example" not in header_block
    text, html = parts(message)
    assert "<script" not in html and "&lt;script&gt;" in html
    assert '<script>alert("t")</script> Evil Bcc: victim@example.com' in text  # text is inert


def test_451_is_retried_with_the_same_message_id(engine: Engine) -> None:
    recorder = Recorder(script=["451 4.3.0 try again later"])
    with smtp_server(recorder) as port:
        result = send(engine, settings_for(port))
    assert (result.state, result.attempts) == ("sent", 2)
    ids = message_ids(recorder.attempts)
    assert len(ids) == 2 and ids[0] == ids[1] == row(engine).message_id
    assert len(recorder.accepted) == 1
    assert row(engine).attempts == 2


def test_550_is_recorded_as_failed_and_retried_by_a_later_run(engine: Engine) -> None:
    recorder = Recorder(script=["550 5.7.1 rejected by policy"])
    with smtp_server(recorder) as port:
        result = send(engine, settings_for(port))
        failed = row(engine)
        assert (result.state, result.attempts) == ("failed", 1)  # permanent: no retry
        assert failed.state == "failed" and "550 5.7.1 rejected by policy" in (
            failed.last_error or ""
        )
        retry = send(engine, settings_for(port))
    assert retry.state == "sent"
    assert message_ids(recorder.attempts) == [failed.message_id] * 2
    assert row(engine).attempts == 2


def test_refused_connection_is_transient_then_recorded(engine: Engine) -> None:
    port = free_port()  # nobody listens: connection refused
    result = send(engine, settings_for(port, max_attempts=2))
    failed = row(engine)
    assert (result.state, failed.state, failed.attempts) == ("failed", "failed", 2)
    assert "gave up after 2 attempts" in (failed.last_error or "")
    assert "refused" in (failed.last_error or "").lower()
    recorder = Recorder()
    with smtp_server(recorder) as port:
        assert send(engine, settings_for(port)).state == "sent"
    assert message_ids(recorder.accepted) == [failed.message_id]


def test_a_drop_after_data_is_resent_with_the_same_message_id(engine: Engine) -> None:
    """At-least-once: the server may have the first copy; the second has the same id."""
    recorder = Recorder(script=["drop"])
    with smtp_server(recorder) as port:
        result = send(engine, settings_for(port))
    assert (result.state, result.attempts) == ("sent", 2)
    ids = message_ids(recorder.attempts)
    assert len(ids) == 2 and ids[0] == ids[1]


def test_force_sends_a_sent_day_again_as_a_new_message(engine: Engine) -> None:
    recorder = Recorder()
    with smtp_server(recorder) as port:
        first = send(engine, settings_for(port))
        forced = send(engine, settings_for(port), force=True)
    assert forced.sent_now and forced.message_id != first.message_id
    assert message_ids(recorder.accepted) == [first.message_id, forced.message_id]


def test_a_day_marked_sending_is_left_alone_unless_forced(engine: Engine) -> None:
    with Session(engine) as session:
        session.add(Digest(day=DAY.isoformat(), message_id="<kept@example.org>", state="sending"))
        session.commit()
    recorder = Recorder()
    with smtp_server(recorder) as port:
        with pytest.raises(DigestError, match="being sent by another run"):
            send(engine, settings_for(port))
        assert send(engine, settings_for(port), force=True).state == "sent"
    assert message_ids(recorder.accepted) == ["<kept@example.org>"]


def test_a_day_not_over_is_not_sent(engine: Engine) -> None:
    with pytest.raises(UsageError, match="not over yet"):
        deliver_digest(engine, settings_for(1), ZONE, DAY, now=datetime(2025, 3, 4, 12, tzinfo=UTC))


def test_an_empty_day_is_sent_only_when_configured(tmp_path: Path) -> None:
    engine = make_db(tmp_path)
    recorder = Recorder()
    with smtp_server(recorder) as port:
        assert send(engine, settings_for(port)).state == "empty"
        assert recorder.attempts == []
        assert send(engine, settings_for(port, send_empty=True)).state == "sent"
    text, _ = parts(parse(recorder.accepted[0]))
    assert "Nothing new today." in text


def test_missing_recipients_fail_before_anything_is_recorded(engine: Engine) -> None:
    with pytest.raises(DigestError, match="no recipients"):
        send(engine, settings_for(1, recipients=()))
    with Session(engine) as session:
        assert session.exec(select(Digest)).first() is None


def test_send_daily_digest_returns_the_state(engine: Engine) -> None:
    recorder = Recorder(script=["554 5.0.0 no"])
    with smtp_server(recorder) as port:
        state = send_daily_digest(engine, settings_for(port), ZONE, DAY)
    assert state == "failed"


def _certificate(tmp_path: Path) -> tuple[Path, Path]:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    try:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
             "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"openssl cannot make a test certificate: {exc}")
    return key, cert


def test_starttls_and_login(engine: Engine, tmp_path: Path) -> None:
    key, cert = _certificate(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    client_tls = ssl.create_default_context(cafile=str(cert))
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        assert isinstance(data, LoginPassword)
        logins.append((data.login, data.password))
        return AuthResult(success=data.password == b"s3cret")

    recorder = Recorder()
    with smtp_server(recorder, tls_context=server_tls, require_starttls=True,
                     authenticator=authenticator, auth_required=True) as port:  # fmt: skip
        settings = digest_settings(
            smtp_url=f"smtp+starttls://digest%40example.org@127.0.0.1:{port}",
            smtp_password="s3cret",
        )
        result = send(engine, settings, ssl_context=client_tls)
    assert result.state == "sent"
    assert logins == [(b"digest@example.org", b"s3cret")]
    assert len(recorder.accepted) == 1


def test_an_untrusted_certificate_is_a_permanent_failure(engine: Engine, tmp_path: Path) -> None:
    key, cert = _certificate(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    with smtp_server(Recorder(), tls_context=server_tls) as port:
        result = send(engine, digest_settings(smtp_url=f"smtp+starttls://127.0.0.1:{port}"))
    assert (result.state, result.attempts) == ("failed", 1)
    assert "certificate" in (result.error or "")
