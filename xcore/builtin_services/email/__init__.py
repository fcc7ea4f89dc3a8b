"""Built-in email backend: the ``smtp`` extension type.

Registered through ``xcore_register_service`` like any third-party backend. Configure it under
``services.extensions.<name>`` with ``type: smtp`` and use it as ``ext.<name>``::

    email = self.get_service("ext.email")
    await email.send(to="ann@example.com", subject="Hello", body="...", attachments=[("a.pdf", data)])
"""

from __future__ import annotations

from xcore.builtin_services.email.message import Attachment, Composed, compose
from xcore.builtin_services.email.settings import SmtpSettings
from xcore.builtin_services.email.smtp import EmailError, SentEmail, SmtpEmail
from xcore.hookspecs import hookimpl
from xcore.services.types import ServiceSetup, ServiceType


def build_smtp(settings: SmtpSettings, setup: ServiceSetup) -> SmtpEmail:
    return SmtpEmail(settings, setup.name, setup.logger)


@hookimpl
def xcore_register_service() -> list[ServiceType]:
    return [ServiceType("extension", "smtp", SmtpSettings, build_smtp, description="Email through an SMTP server")]


__all__ = ["Attachment", "Composed", "EmailError", "SentEmail", "SmtpEmail", "SmtpSettings", "compose"]
