"""Built-in email backend: the ``smtp`` extension type.

Registered through ``xcore_register_service`` like any third-party backend. Configure it under
``services.extensions.<name>`` with ``type: smtp`` and use it as ``ext.<name>``::

    email = self.get_service("ext.email")
    await email.send(to="ann@example.com", subject="Hello", body="...", attachments=[("a.pdf", data)])
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from xcore._builtin_services.email.settings import SmtpSettings
from xcore._hookspecs import hookimpl
from xcore._services.types import ServiceSetup, ServiceType

if TYPE_CHECKING:
    from xcore._builtin_services.email.message import Attachment, Composed, compose
    from xcore._builtin_services.email.smtp import EmailError, SentEmail, SmtpEmail
else:
    # Importing the backend declares it; aiosmtplib loads only when an email service is built.
    from xcore._builtin_services.lazy_exports import lazy_exports

    __getattr__ = lazy_exports(
        __name__,
        {
            "Attachment": ".message",
            "Composed": ".message",
            "compose": ".message",
            "EmailError": ".smtp",
            "SentEmail": ".smtp",
            "SmtpEmail": ".smtp",
        },
    )


def build_smtp(settings: SmtpSettings, setup: ServiceSetup) -> SmtpEmail:
    from xcore._builtin_services.email.smtp import SmtpEmail

    return SmtpEmail(settings, setup.name, setup.logger)


@hookimpl
def xcore_register_service() -> list[ServiceType]:
    return [ServiceType("extension", "smtp", SmtpSettings, build_smtp, description="Email through an SMTP server")]


__all__ = ["Attachment", "Composed", "EmailError", "SentEmail", "SmtpEmail", "SmtpSettings", "compose"]
