"""Builds the digest's MIME message: multipart/alternative, text then HTML, UTF-8 (pure).

Header values are single-lined and encoded here, whatever they came from. The message is built
with the `compat32` API on purpose: the modern `email.policy` parses any "=?utf-8?q?...?="
found in a header value *as an encoded word* and (on Python < 3.12.5) writes its decoded
CR/LF back out, i.e. an encoded word smuggles a header in. `Header` objects are emitted as
given, so a value that looks like an encoded word is itself encoded and stays literal text.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from datetime import datetime
from email.charset import QP, Charset
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.policy import compat32
from email.utils import format_datetime, getaddresses, parseaddr

from monitor.digest.clean import single_line
from monitor.digest.render import RenderedDigest
from monitor.errors import DigestError

_ADDRESS = re.compile(r"^[^\s@<>()\[\],;:\"\\]+@[^\s@<>()\[\],;:\"\\]+$")
# RFC 5322 allows 998 octets per line; folding keeps encoded headers far below that.
MAX_HEADER = 900


def _charset() -> Charset:
    # Quoted-printable keeps the parts readable in a saved .eml and 7-bit clean for any server.
    charset = Charset("utf-8")
    charset.header_encoding = QP
    charset.body_encoding = QP
    return charset


def header_text(value: str) -> Header:  # (only Subject is unstructured here)
    """An unstructured header value (Subject): one line, encoded unless plainly safe ASCII."""
    text = single_line(value, MAX_HEADER // 3)
    if text.isascii() and "=?" not in text:
        return Header(text, "us-ascii", maxlinelen=76, header_name="Subject")
    return Header(text, _charset(), maxlinelen=76, header_name="Subject")


def parse_addresses(values: Sequence[str]) -> list[tuple[str, str]]:
    """The valid (display name, address) pairs; `send` refuses to send when one is dropped."""
    pairs = getaddresses([single_line(v, MAX_HEADER) for v in values if v.strip()])
    return [(single_line(name, 100), addr) for name, addr in pairs if valid_address(addr)]


def envelope(sender: str, recipients: Sequence[str]) -> tuple[str, list[str]]:
    """The SMTP envelope, or a DigestError naming the setting that is missing or malformed.

    Each configured value must be exactly one address: "a@x\\nBcc: b@y" must not become two.
    """
    senders = _one_address(sender, "digest.sender (MONITOR_DIGEST_FROM)") if sender else None
    if not senders:
        raise DigestError("no sender: set digest.sender or MONITOR_DIGEST_FROM")
    if not recipients:
        raise DigestError("no recipients: set digest.recipients or MONITOR_DIGEST_TO")
    return senders, [_one_address(r, "digest.recipients (MONITOR_DIGEST_TO)") for r in recipients]


def _one_address(value: str, where: str) -> str:
    pairs = getaddresses([value])
    if "\r" in value or "\n" in value or len(pairs) != 1 or not valid_address(pairs[0][1]):
        raise DigestError(f"{where}: {value!r} is not one email address")
    return pairs[0][1]


def valid_address(address: str) -> bool:
    return bool(_ADDRESS.match(address))


def format_address(name: str, address: str) -> str:
    """`Name <addr>` with the name encoded when needed; never a line break, never a raw "=?"."""
    if not name:
        return address
    if name.isascii() and "=?" not in name:
        quoted = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{quoted}" <{address}>'
    return f"{Header(name, _charset()).encode()} <{address}>"


def new_message_id(sender: str, day: str) -> str:
    """A fresh Message-ID, with the sender's domain so that it is globally unique and ours."""
    _, address = parseaddr(sender)
    domain = address.rpartition("@")[2] if valid_address(address) else "monitor.localhost"
    # Short (not make_msgid's pid.time.random), so that "Message-ID:" is never folded.
    return f"<digest.{day}.{secrets.token_hex(8)}@{domain}>"


def build_message(
    rendered: RenderedDigest,
    *,
    sender: str,
    recipients: Sequence[str],
    message_id: str,
    date: datetime,
) -> MIMEMultipart:
    """The complete message; empty sender or recipients are left out (a preview may lack them)."""
    message = MIMEMultipart("alternative")
    message["Subject"] = header_text(rendered.subject)  # type: ignore[assignment]  # see top
    senders = parse_addresses([sender])
    if senders:
        message["From"] = format_address(*senders[0])
    to = parse_addresses(recipients)
    if to:
        message["To"] = ", ".join(format_address(name, addr) for name, addr in to)
    message["Date"] = format_datetime(date)
    message["Message-ID"] = single_line(message_id, 250)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a robot
    message.attach(_text_part(rendered.text, "plain"))
    message.attach(_text_part(rendered.html, "html"))
    return message


def _text_part(text: str, subtype: str) -> MIMENonMultipart:
    part = MIMENonMultipart("text", subtype)
    part.set_payload(text, _charset())
    return part


def message_bytes(message: MIMEMultipart) -> bytes:
    """The message as sent: CRLF line ends, as SMTP and .eml files want them."""
    return message.as_bytes(policy=compat32.clone(linesep="\r\n"))
