"""Turning ``send(to=..., subject=..., body=...)`` into one MIME message and its envelope.

Kept apart from the SMTP transport so every email backend (a third-party HTTP API backend too)
builds the same message from the same arguments and refuses the same bad input: no recipient, an
address without ``@``, a line break in a header (header injection), text where bytes belong.

Bcc recipients go into the envelope only: they receive the message but no header names them.
"""

from __future__ import annotations

import mimetypes
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formataddr, formatdate, getaddresses, make_msgid, parseaddr
from pathlib import Path

SEVEN_BIT = policy.default.clone(cte_type="7bit")
"""Non-ASCII bodies go quoted-printable or base64, so relays without 8BITMIME deliver them intact."""

Recipients = str | Sequence[str]
"""One address, a comma-separated string of addresses, or a list of them (``"Ann <ann@x.org>"`` works)."""


@dataclass(frozen=True)
class Attachment:
    """A file to attach. ``content_type`` is guessed from ``filename`` when not given."""

    filename: str
    content: bytes
    content_type: str | None = None


AttachmentLike = Attachment | tuple[str, bytes] | tuple[str, bytes, str] | str | os.PathLike[str]
"""An :class:`Attachment`, ``(filename, bytes)``, ``(filename, bytes, content_type)`` or a file path."""


@dataclass(frozen=True)
class Composed:
    """A message ready to hand to a transport."""

    message: EmailMessage
    sender: str
    recipients: list[str]
    message_id: str


def parse_recipients(value: Recipients | None, field: str) -> list[tuple[str, str]]:
    """``(display name, address)`` pairs, refusing anything that is not an address."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"email {field}: addresses must be strings, got {type(item).__name__}")
        _no_line_break(item, field)
        _no_group(item, field)
    pairs = [(name, addr) for name, addr in getaddresses(items) if name or addr]
    for _name, addr in pairs:
        if "@" not in addr or addr.startswith("@") or addr.endswith("@") or " " in addr:
            raise ValueError(f"email {field}: {addr!r} is not an email address")
    return pairs


_QUOTED_OR_BRACKETED = re.compile(r'"(?:[^"\\]|\\.)*"|<[^>]*>')


def _no_group(item: str, field: str) -> None:
    """Refuse RFC 5322 group syntax (``Team: a@x, b@y;``): the parser also reads it in a malformed
    ``f"{name} <{address}>"`` whose user-typed name holds a ':', and mails an address hidden there."""
    if ":" in _QUOTED_OR_BRACKETED.sub("", item):
        raise ValueError(
            f"email {field}: {item!r} has a ':' outside quotes, which would turn part of a name into "
            "recipients; quote display names ('\"Name\" <addr>')"
        )


def _no_line_break(value: str, field: str) -> None:
    if "\r" in value or "\n" in value:
        raise ValueError(f"email {field}: contains a line break, which would forge extra headers")


def load_attachment(item: AttachmentLike) -> Attachment:
    """An :class:`Attachment` from any accepted form (paths are read here: call it off the event loop)."""
    if isinstance(item, Attachment):
        attachment = item
    elif isinstance(item, tuple):
        if len(item) not in (2, 3) or not isinstance(item[0], str):
            raise TypeError("email attachment tuples are (filename, bytes) or (filename, bytes, content_type)")
        attachment = Attachment(item[0], item[1], item[2] if len(item) == 3 else None)  # type: ignore[misc]
    elif isinstance(item, str | os.PathLike):
        path = Path(item)
        if not path.is_file():
            raise FileNotFoundError(f"email attachment {str(path)!r} is not a file")
        attachment = Attachment(path.name, path.read_bytes())
    else:
        raise TypeError(f"email attachment must be an Attachment, a (filename, bytes) tuple or a path, "
                        f"got {type(item).__name__}")  # fmt: skip
    if not isinstance(attachment.content, bytes | bytearray):
        raise TypeError(f"email attachment {attachment.filename!r}: content must be bytes, "
                        f"got {type(attachment.content).__name__}")  # fmt: skip
    _no_line_break(attachment.filename, "attachment filename")
    return attachment


Pair = tuple[str, str]


@dataclass(frozen=True)
class _Envelope:
    """Who sends to whom, every address parsed and checked (what :func:`_checked` returns)."""

    sender: Pair
    to: list[Pair]
    cc: list[Pair]
    bcc: list[Pair]
    reply_to: list[Pair] | None

    def recipients(self) -> list[str]:
        """Every recipient address once, in to, cc, bcc order (the SMTP envelope)."""
        return list(dict.fromkeys(addr for _name, addr in [*self.to, *self.cc, *self.bcc]))


def compose(
    *,
    sender: str | None,
    to: Recipients | None,
    subject: str,
    body: str,
    html: str | None = None,
    cc: Recipients | None = None,
    bcc: Recipients | None = None,
    attachments: Sequence[Attachment] = (),
    reply_to: Recipients | None = None,
    headers: Mapping[str, str] | None = None,
) -> Composed:
    """The MIME message (text, optional HTML alternative, attachments) and its envelope.

    Everything is checked first (:func:`_checked`), so a bad argument raises before any MIME is built.
    """
    envelope = _checked(sender, to, cc, bcc, reply_to, subject=subject, body=body, html=html, headers=headers)
    message = EmailMessage(policy=SEVEN_BIT)
    message_id = _set_headers(message, envelope, subject, headers or {})
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")
    for attachment in attachments:
        content_type = attachment.content_type or mimetypes.guess_type(attachment.filename)[0]
        maintype, _, subtype = (content_type or "application/octet-stream").partition("/")
        message.add_attachment(bytes(attachment.content), maintype=maintype, subtype=subtype or "octet-stream",
                               filename=attachment.filename)  # fmt: skip
    return Composed(message, envelope.sender[1], envelope.recipients(), message_id)


def _checked(
    sender: str | None,
    to: Recipients | None,
    cc: Recipients | None,
    bcc: Recipients | None,
    reply_to: Recipients | None,
    *,
    subject: object,
    body: object,
    html: object,
    headers: Mapping[str, str] | None,
) -> _Envelope:
    """Check every argument of :func:`compose`; the error names the bad one."""
    if not sender:
        raise ValueError("email: no sender; pass from_=... or set 'sender' in the service settings")
    _no_line_break(sender, "from_")
    sender_name, sender_addr = parseaddr(sender)
    if "@" not in sender_addr:
        raise ValueError(f"email from_: {sender!r} is not an email address")
    if not isinstance(subject, str):
        raise TypeError(f"email subject must be a string, got {type(subject).__name__}")
    _no_line_break(subject, "subject")
    if not isinstance(body, str):
        raise TypeError(f"email body must be a string, got {type(body).__name__}")
    if html is not None and not isinstance(html, str):
        raise TypeError(f"email html must be a string, got {type(html).__name__}")
    envelope = _Envelope(
        (sender_name, sender_addr), parse_recipients(to, "to"), parse_recipients(cc, "cc"),
        parse_recipients(bcc, "bcc"), None if reply_to is None else parse_recipients(reply_to, "reply_to"),
    )  # fmt: skip
    if not (envelope.to or envelope.cc or envelope.bcc):
        raise ValueError("email: no recipient; give at least one address in to, cc or bcc")
    for name, value in (headers or {}).items():
        _no_line_break(name, "headers")
        _no_line_break(value, f"headers[{name!r}]")
    return envelope


def _set_headers(message: EmailMessage, envelope: _Envelope, subject: str, headers: Mapping[str, str]) -> str:
    """Write the address, subject, date, id and extra headers; returns the Message-ID."""
    message["From"] = formataddr(envelope.sender)
    if envelope.to:
        message["To"] = ", ".join(formataddr(p) for p in envelope.to)
    if envelope.cc:
        message["Cc"] = ", ".join(formataddr(p) for p in envelope.cc)
    if envelope.reply_to is not None:
        message["Reply-To"] = ", ".join(formataddr(p) for p in envelope.reply_to)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=True)
    message_id = make_msgid(domain=Address(addr_spec=envelope.sender[1]).domain or None)
    message["Message-ID"] = message_id
    for name, value in headers.items():
        message[name] = value
    return message_id
