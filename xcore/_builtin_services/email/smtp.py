"""``type: smtp``: sending mail through an SMTP server with aiosmtplib.

Each ``send`` opens its own connection (connect, TLS, login, send, quit). That costs a handshake
per message but means there is no pooled connection to go stale: an SMTP server drops idle clients
after a minute or so, and a mail server that was down at boot is used as soon as it is back, with
nothing to reconnect. ``start()`` and ``health()`` do the same dance ending in ``NOOP``, so a wrong
host, port, certificate or password shows at boot and in ``/health/ready``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiosmtplib

from xcore._builtin_services.email.message import AttachmentLike, Recipients, compose, load_attachment
from xcore._builtin_services.email.settings import SmtpSettings
from xcore._errors import XcoreError
from xcore._redaction import redact_text
from xcore._services.types import ServiceBase


class EmailError(XcoreError):
    """A message could not be sent; the text names the service and the server, never the password."""


@dataclass(frozen=True)
class SentEmail:
    """What the server accepted: the ``Message-ID`` and the recipients it took or refused."""

    message_id: str
    recipients: list[str]
    refused: dict[str, str] = field(default_factory=dict)


class SmtpEmail(ServiceBase):
    """The ``ext.<name>`` object plugins get: ``await email.send(to=..., subject=..., body=...)``."""

    def __init__(self, settings: SmtpSettings, service_name: str, logger: logging.Logger | None = None) -> None:
        self.settings = settings
        self.service_name = service_name
        self.log = logger or logging.getLogger(f"xcore.service.{service_name}")
        self.where = f"{settings.host}:{settings.effective_port}"
        self._secrets = [settings.password.get_secret_value()] if settings.password else []

    # ------------------------------------------------------------------ the plugin author's API

    async def send(
        self,
        to: Recipients | None,
        subject: str,
        body: str,
        *,
        html: str | None = None,
        cc: Recipients | None = None,
        bcc: Recipients | None = None,
        attachments: Sequence[AttachmentLike] | None = None,
        from_: str | None = None,
        reply_to: Recipients | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> SentEmail:
        """Send one message; Bcc recipients receive it without appearing in its headers.

        Bad arguments raise ``ValueError``/``TypeError`` before anything is sent; a server that is
        unreachable or refuses the message or every recipient raises :class:`EmailError`.
        Recipients refused individually are listed in the result's ``refused``.
        """
        loaded = await asyncio.to_thread(lambda: [load_attachment(a) for a in attachments]) if attachments else []
        composed = compose(
            sender=from_ or self.settings.default_sender, to=to, subject=subject, body=body, html=html,
            cc=cc, bcc=bcc, attachments=loaded, reply_to=reply_to, headers=headers,
        )  # fmt: skip
        try:
            refused, _reply = await aiosmtplib.send(
                composed.message, sender=composed.sender, recipients=composed.recipients, **self._connection()
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            reasons = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
            raise self._error(f"{self.where} refused every recipient ({reasons})") from None
        except aiosmtplib.SMTPException as exc:
            raise self._error(self._describe(exc)) from None
        except OSError as exc:
            raise self._error(f"cannot reach {self.where}: {exc}") from None
        refused_text = {addr: f"{resp.code} {resp.message}" for addr, resp in refused.items()}
        accepted = [r for r in composed.recipients if r not in refused]
        self.log.debug("sent %s to %d recipient(s), %d refused", composed.message_id, len(accepted), len(refused))
        return SentEmail(composed.message_id, accepted, refused_text)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await self.health()

    async def health(self) -> dict[str, Any]:
        """Connect (with TLS and login as configured) and ask ``NOOP``."""
        try:
            client = aiosmtplib.SMTP(**self._connection())
            async with client:
                await client.noop()
        except aiosmtplib.SMTPException as exc:
            raise self._error(self._describe(exc)) from None
        except OSError as exc:
            raise self._error(f"cannot reach {self.where}: {exc}") from None
        return {"server": self.where, "tls": self.settings.tls_mode}

    # ------------------------------------------------------------------ internals

    def _connection(self) -> dict[str, Any]:
        s = self.settings
        mode = s.tls_mode
        options: dict[str, Any] = {
            "hostname": s.host, "port": s.effective_port, "timeout": s.timeout,
            "use_tls": mode == "implicit", "start_tls": mode == "starttls",
            "validate_certs": s.validate_certs, "cert_bundle": str(s.ca_file) if s.ca_file else None,
        }  # fmt: skip
        if s.user:
            options["username"] = s.user
            options["password"] = s.password.get_secret_value() if s.password else ""
        return options

    def _describe(self, exc: aiosmtplib.SMTPException) -> str:
        if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
            return f"{self.where} refused the login of user {self.settings.user!r}: {exc.code} {exc.message}"
        if isinstance(exc, aiosmtplib.SMTPConnectTimeoutError | aiosmtplib.SMTPTimeoutError):
            return f"{self.where} did not answer within {self.settings.timeout:g}s"
        if isinstance(exc, aiosmtplib.SMTPConnectError):
            return f"cannot connect to {self.where}: {exc}"
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            return f"{self.where} refused the message: {exc.code} {exc.message}"
        return f"sending through {self.where} failed: {exc}"

    def _error(self, text: str) -> EmailError:
        return EmailError(redact_text(f"{self.service_name}: {text}", self._secrets))
