"""Sends the digest of a day exactly once, with the `digest` table as the record.

Delivery semantics. The row for the day (with its Message-ID) is committed in state `sending`
before the first byte goes to the server; only `send_mail` returning marks it `sent`. Transient
failures (connection refused or lost, timeouts, 4xx) are retried with exponential back-off and
the *same* Message-ID; a permanent failure (5xx, TLS or login refused) marks the row `failed`
with the server's answer in `last_error`. A later run retries a `failed` day, again with the same
Message-ID; a `sent` day is never sent again unless forced, and then under a new Message-ID
(a deliberate second copy that clients must not fold into the first).

The one window SMTP cannot close: the connection drops after the message was handed over (DATA)
but before the server's reply. The server may or may not have queued it. We choose
**at-least-once**: the attempt counts as failed and is retried with the same Message-ID, because
a lost digest is silent while a duplicate is visible — and it carries the same Message-ID, which
many mail stores and clients use to fold duplicates. `last_error` records that the earlier
attempt may have been delivered. For the same reason a run interrupted while sending (Ctrl-C,
SIGTERM) marks the day `failed`, to be retried; only a hard kill (SIGKILL, power loss) leaves it
`sending`, which a later run does not touch without `force` because another run may be
sending it right now.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from monitor.config.sections import DigestSettings
from monitor.digest.content import DigestData
from monitor.digest.mailer import SMTPFailure, check_smtp, send_mail
from monitor.digest.message import build_message, envelope, message_bytes, new_message_id
from monitor.digest.query import build_digest, day_bounds, default_day
from monitor.digest.render import RenderedDigest, render_digest
from monitor.errors import DigestError, UsageError
from monitor.store.db import session_scope
from monitor.store.models import Digest

MAX_WAIT = 3600.0  # back-off never waits longer than this between two attempts


@dataclass(frozen=True)
class SendResult:
    day: date
    state: str  # sent | failed | empty (nothing new, send_empty off: nothing recorded)
    sent_now: bool  # False when the day had been sent before
    stories: int
    message_id: str | None
    attempts: int
    error: str | None
    message: bytes | None = None  # the message as handed to the server, when one was built
    rendered: RenderedDigest | None = None


def prepare_digest(
    session: Session,
    day: date,
    zone: ZoneInfo,
    settings: DigestSettings,
    topic_names: Mapping[str, str] | None,
    now: datetime,
) -> tuple[DigestData, RenderedDigest]:
    data = build_digest(session, day, zone, settings, now)
    return data, render_digest(data, settings, topic_names)


def send_daily_digest(
    engine: Engine,
    settings: DigestSettings,
    zone: ZoneInfo,
    day: date | None = None,
    force: bool = False,
    *,
    topic_names: Mapping[str, str] | None = None,
) -> str:
    """The daemon's job: send `day` (default: yesterday in `zone`) unless already sent;
    returns the state (`sent`, `failed`, `empty`). Never raises for an SMTP failure."""
    return deliver_digest(engine, settings, zone, day, force=force, topic_names=topic_names).state


def deliver_digest(
    engine: Engine,
    settings: DigestSettings,
    zone: ZoneInfo,
    day: date | None = None,
    *,
    force: bool = False,
    topic_names: Mapping[str, str] | None = None,
    now: datetime | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> SendResult:
    """Send the digest of `day` at most once per Message-ID, recording every step (see top)."""
    now = now or datetime.now(UTC)
    day = day or default_day(now, zone)
    if not force and now < day_bounds(day, zone)[1]:
        raise UsageError(
            f"{day} is not over yet in {zone.key}: its digest would miss later "
            "stories (use --force to send it anyway)"
        )
    sender, recipients = envelope(settings.sender, settings.recipients)
    check_smtp(settings.smtp_url, settings.smtp_password)

    with session_scope(engine) as session:
        row = session.exec(select(Digest).where(Digest.day == day.isoformat())).first()
        if row is not None and not force:
            if row.state == "sent":
                return SendResult(
                    day,
                    "sent",
                    False,
                    row.articles,
                    row.message_id,
                    row.attempts,
                    row.last_error,
                    None,
                )
            if row.state == "sending":
                raise DigestError(
                    f"the digest for {day} is being sent by another run, or a run was killed "
                    f"while sending it (state 'sending', {row.attempts} attempts); "
                    "--force sends it again with the same Message-ID"
                )
        data, rendered = prepare_digest(session, day, zone, settings, topic_names, now)
    if not data.stories and not settings.send_empty:
        return SendResult(day, "empty", False, 0, None, 0, None, None, rendered)

    digest_id, message_id = _claim(engine, row, day, settings.sender, rendered.stories, now, force)
    data_bytes = message_bytes(
        build_message(
            rendered,
            sender=settings.sender,
            recipients=settings.recipients,
            message_id=message_id,
            date=now,
        )
    )
    attempts = 0

    def attempt() -> dict[str, tuple[int, bytes]]:
        nonlocal attempts
        attempts += 1
        _set(engine, digest_id, attempts=col(Digest.attempts) + 1)
        return send_mail(
            data_bytes,
            sender,
            recipients,
            settings.smtp_url,
            settings.smtp_password,
            context=ssl_context,
        )

    def note_transient(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        _set(engine, digest_id, last_error=_describe(exc))

    retrying = Retrying(
        stop=stop_after_attempt(max(1, settings.max_attempts)),
        wait=wait_exponential(multiplier=settings.retry_wait, max=MAX_WAIT),
        retry=retry_if_exception(lambda e: isinstance(e, SMTPFailure) and e.transient),
        before_sleep=note_transient,
        reraise=True,
    )
    try:
        refused = retrying(attempt)
    except SMTPFailure as exc:
        error = _describe(exc)
        if exc.transient:
            error = f"gave up after {attempts} attempts: {error}"
        _set(engine, digest_id, state="failed", last_error=error)
        return SendResult(
            day,
            "failed",
            False,
            rendered.stories,
            message_id,
            attempts,
            error,
            data_bytes,
            rendered,
        )
    except BaseException as exc:
        # Interrupted or a bug: the message may be out, so mark it for a retry, not for silence.
        _set(engine, digest_id, state="failed", last_error=f"interrupted: {exc!r}"[:500])
        raise
    note = None
    if refused:
        note = "refused by the server for: " + ", ".join(
            f"{rcpt} ({code})" for rcpt, (code, _) in sorted(refused.items())
        )
    _set(engine, digest_id, state="sent", sent_at=datetime.now(UTC), last_error=note)
    return SendResult(
        day, "sent", True, rendered.stories, message_id, attempts, note, data_bytes, rendered
    )


def _claim(
    engine: Engine,
    seen: Digest | None,
    day: date,
    sender: str,
    stories: int,
    now: datetime,
    force: bool,
) -> tuple[int, str]:
    """Create or take over the day's row in state `sending`, committed before any sending.

    The update is conditional on the state read earlier, so of two runs racing for the same
    day exactly one wins; the other gets a DigestError.
    """
    with session_scope(engine) as session:
        if seen is None:
            row = Digest(
                day=day.isoformat(),
                message_id=new_message_id(sender, day.isoformat()),
                state="sending",
                articles=stories,
                created=now,
            )
            session.add(row)
            try:
                session.flush()
            except IntegrityError as exc:
                raise DigestError(
                    f"another run has just started sending the digest for {day}"
                ) from exc
            assert row.id is not None
            return row.id, row.message_id
        assert seen.id is not None
        # A forced resend of a delivered digest is a new message; a retry is the same one.
        message_id = seen.message_id
        if force and seen.state == "sent":
            message_id = new_message_id(sender, day.isoformat())
        result = session.execute(
            update(Digest)
            .where(col(Digest.id) == seen.id, col(Digest.state) == seen.state)
            .values(state="sending", message_id=message_id, articles=stories, last_error=None)
        )
        if getattr(result, "rowcount", 0) != 1:
            raise DigestError(f"another run has just started sending the digest for {day}")
        return seen.id, message_id


def _set(engine: Engine, digest_id: int, **values: Any) -> None:
    """Record a step in its own transaction, so that a crash right after it keeps it."""
    with session_scope(engine) as session:
        session.execute(update(Digest).where(col(Digest.id) == digest_id).values(**values))


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    text = str(exc)
    if isinstance(exc, SMTPFailure) and exc.after_data:
        text += " (after the message was handed over: it may have been delivered)"
    return text[:500]
