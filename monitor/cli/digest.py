"""`monitor digest`: build a day's digest, look at it (stdout, --out) or send it once (--send)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import click
from sqlmodel import select

from monitor.digest import default_day, deliver_digest, load_topic_names
from monitor.digest.message import build_message, message_bytes, new_message_id
from monitor.digest.render import RenderedDigest
from monitor.digest.send import SendResult, prepare_digest
from monitor.errors import DigestError, UsageError
from monitor.run.context import AppContext
from monitor.store.db import session_scope
from monitor.store.models import Digest

OUT_KINDS = (".eml", ".html", ".txt")


@click.command("digest")
@click.option(
    "--date", "day_text", metavar="YYYY-MM-DD", help="The day, local to digest.timezone "
    "(default: yesterday, the last complete day).",
)  # fmt: skip
@click.option("--send", is_flag=True, help="Send it by SMTP and record it (once per day).")
@click.option("--force", is_flag=True, help="With --send: send again even if already sent.")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path),
    help="Write the message (.eml), its HTML part (.html) or its text part (.txt).",
)  # fmt: skip
@click.pass_obj
def digest(
    app: AppContext, day_text: str | None, send: bool, force: bool, out: Path | None
) -> None:
    """Build the digest of a day: print its text, write it with --out, or --send it."""
    if out is not None and out.suffix.lower() not in OUT_KINDS:
        raise UsageError(f"--out: {out} must end in {', '.join(OUT_KINDS)}")
    if force and not send:
        raise UsageError("--force only makes sense with --send")
    settings = app.settings
    now = datetime.now(UTC)
    day = _parse_day(day_text) or default_day(now, settings.zone)
    names = load_topic_names(settings.topics_file)
    engine = app.engine()

    if send:
        result = deliver_digest(
            engine, settings.digest, settings.zone, day, force=force, topic_names=names, now=now
        )
        if out is not None and result.rendered is not None:
            _write(out, result.message, result.rendered)
        if result.state == "failed":
            raise DigestError(
                f"the digest for {day} was not sent: {result.error} "
                "(recorded as failed; `monitor digest --send` tries again)"
            )
        click.echo(_summary(result))
        return

    with session_scope(engine) as session:
        _, rendered = prepare_digest(session, day, settings.zone, settings.digest, names, now)
        row = session.exec(select(Digest).where(Digest.day == day.isoformat())).first()
    if out is None:
        click.echo(rendered.text, nl=False)
        return
    # A preview carries the day's recorded Message-ID when there is one, so it matches the mail.
    message_id = row.message_id if row else new_message_id(settings.digest.sender, str(day))
    message = build_message(
        rendered,
        sender=settings.digest.sender,
        recipients=settings.digest.recipients,
        message_id=message_id,
        date=now,
    )
    _write(out, message_bytes(message), rendered)
    click.echo(f"wrote {out} ({rendered.stories} stories)")


def _parse_day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise UsageError(f"--date: {value!r} is not a date like 2025-03-04") from exc


def _summary(result: SendResult) -> str:
    if result.state == "empty":
        return f"digest for {result.day}: nothing new, not sent (digest.send_empty is off)"
    if result.state == "sent" and not result.sent_now:
        return f"digest for {result.day}: already sent ({result.message_id}); --force resends"
    note = f"; {result.error}" if result.state == "sent" and result.error else ""
    return (
        f"digest for {result.day}: {result.state}, {result.stories} stories, "
        f"{result.attempts} attempt(s), {result.message_id}{note}"
    )


def _write(out: Path, eml: bytes | None, rendered: RenderedDigest) -> None:
    kind = out.suffix.lower()
    try:
        if kind == ".eml":
            if eml is not None:
                out.write_bytes(eml)
        else:
            out.write_text(rendered.html if kind == ".html" else rendered.text, encoding="utf-8")
    except OSError as exc:
        raise DigestError(f"cannot write {out}: {exc.strerror}") from exc
