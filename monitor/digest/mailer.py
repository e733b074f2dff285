"""The one SMTP sender: parses `smtp_url`, connects (STARTTLS or implicit TLS), logs in when a
user is named, hands one message over, and classifies what went wrong as transient or permanent.
"""

from __future__ import annotations

import ipaddress
import smtplib
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from monitor.errors import ConfigError, DigestError

SCHEMES = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}
TIMEOUT = 60.0  # seconds per SMTP command; a large DATA gets this per socket operation
WHERE = "digest.smtp_url (MONITOR_SMTP_URL)"


class SMTPFailure(DigestError):
    """The server did not take the message. `transient`: worth retrying later with the same
    Message-ID. `after_data`: the message may have been delivered anyway (see monitor.digest.send).
    """

    def __init__(self, message: str, *, transient: bool, after_data: bool = False) -> None:
        super().__init__(message)
        self.transient = transient
        self.after_data = after_data


@dataclass(frozen=True)
class SMTPTarget:
    scheme: str
    host: str
    port: int
    user: str | None

    def __str__(self) -> str:
        user = f"{self.user}@" if self.user else ""
        return f"{self.scheme}://{user}{self.host}:{self.port}"


def parse_smtp_url(url: str) -> SMTPTarget:
    """smtp://[user@]host[:port], smtp+starttls://…, smtps://… (a ConfigError otherwise)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise ConfigError(WHERE, None, f"{url!r} is not a valid URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise ConfigError(WHERE, None, f"{url!r}: the scheme must be one of {', '.join(SCHEMES)}")
    if not parts.hostname:
        raise ConfigError(WHERE, None, f"{url!r} names no host")
    if parts.password is not None:
        raise ConfigError(WHERE, None, "put the password in MONITOR_SMTP_PASSWORD, not the URL")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(WHERE, None, f"{url!r}: only scheme, user, host and port are allowed")
    user = unquote(parts.username) if parts.username else None
    return SMTPTarget(scheme, parts.hostname, port or SCHEMES[scheme], user)


def check_smtp(smtp_url: str, password: str) -> SMTPTarget:
    """The target, once URL and password make sense together (a ConfigError otherwise)."""
    target = parse_smtp_url(smtp_url)
    if password and not target.user:
        raise ConfigError(WHERE, None, "MONITOR_SMTP_PASSWORD is set but the URL names no user")
    if target.user and not password:
        raise ConfigError(WHERE, None, f"user {target.user!r} needs MONITOR_SMTP_PASSWORD")
    if target.user and target.scheme == "smtp" and not is_loopback(target.host):
        raise ConfigError(
            WHERE,
            None,
            "refusing to send the password unencrypted: use smtp+starttls:// or smtps://",
        )
    return target


def is_loopback(host: str) -> bool:
    """`localhost` or a loopback address: traffic that never leaves this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def send_mail(
    data: bytes,
    sender: str,
    recipients: Sequence[str],
    smtp_url: str,
    password: str = "",
    *,
    timeout: float = TIMEOUT,
    context: ssl.SSLContext | None = None,
) -> dict[str, tuple[int, bytes]]:
    """Hand `data` over to the server; returns the recipients it refused (the rest have it).

    Raises SMTPFailure. `context` replaces the default (verifying) TLS context, for tests.
    """
    target = check_smtp(smtp_url, password)
    context = context or ssl.create_default_context()
    after_data = False
    try:
        client = (
            smtplib.SMTP_SSL(target.host, target.port, timeout=timeout, context=context)
            if target.scheme == "smtps"
            else smtplib.SMTP(target.host, target.port, timeout=timeout)
        )
        with client:
            client.ehlo()
            if target.scheme == "smtp+starttls":
                client.starttls(context=context)
                client.ehlo()
            if target.user:
                client.login(target.user, password)
            # mail/rcpt/data one by one (not sendmail) to know whether DATA had begun when the
            # connection dropped: from then on the server may have queued the message.
            code, reply = client.mail(sender)
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, reply, sender)
            refused: dict[str, tuple[int, bytes]] = {}
            for rcpt in recipients:
                code, reply = client.rcpt(rcpt)
                if code not in (250, 251):
                    refused[rcpt] = (code, reply)
            if len(refused) == len(recipients):
                raise smtplib.SMTPRecipientsRefused(refused)
            after_data = True
            code, reply = client.data(data)
            if code != 250:
                raise smtplib.SMTPDataError(code, reply)
            return refused
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [c for c, _ in exc.recipients.values()]
        detail = "; ".join(f"{r}: {c} {_text(m)}" for r, (c, m) in exc.recipients.items())
        raise SMTPFailure(
            f"{target}: all recipients refused: {detail}",
            transient=all(400 <= c < 500 for c in codes),
        ) from exc
    except smtplib.SMTPResponseException as exc:
        # 4xx: try later (greylisting, full queue, rate limits); 5xx: it will not work as is.
        raise SMTPFailure(
            f"{target}: {exc.smtp_code} {_text(exc.smtp_error)}",
            transient=400 <= exc.smtp_code < 500,
        ) from exc  # an answer, even after DATA, says for sure the message was not taken
    except smtplib.SMTPNotSupportedError as exc:  # no STARTTLS / AUTH: a configuration problem
        raise SMTPFailure(f"{target}: {exc}", transient=False) from exc
    except ssl.SSLCertVerificationError as exc:
        raise SMTPFailure(
            f"{target}: TLS certificate not trusted: {exc.verify_message}", transient=False
        ) from exc
    except (smtplib.SMTPException, OSError) as exc:  # refused, reset, timeout, DNS, TLS EOF…
        what = "connection lost" if isinstance(exc, smtplib.SMTPServerDisconnected) else "error"
        reason = str(exc) or type(exc).__name__
        if isinstance(exc, socket.timeout | TimeoutError):
            reason = "timed out"
        raise SMTPFailure(
            f"{target}: {what}: {reason}", transient=True, after_data=after_data
        ) from exc


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())[:300]
