"""Settings of the ``smtp`` extension type.

``tls`` decides how the connection is protected. The seed writes ``tls: true``; what it means:

* ``true``: encrypt, choosing the usual way for the port: implicit TLS on 465 (SMTPS), STARTTLS on
  any other port. The default: mail credentials never cross the network in clear by accident.
* ``starttls``: connect in clear, then upgrade with STARTTLS; the server must offer it.
* ``implicit``: TLS from the first byte (SMTPS).
* ``false`` / ``none``: no encryption (a local relay, a test server).

Without ``port``: 465 for implicit TLS, 587 for STARTTLS, 25 without TLS. Certificates are checked
against the system store, or against ``ca_file`` (a PEM bundle) when given; ``validate_certs: false``
turns the check off (never in production). Values arriving through ``${VAR}`` are strings: ``port``
is coerced to an integer, ``tls`` accepts ``"true"``/``"false"``, and an empty ``user``/``password``
means no authentication. ``sender`` defaults to ``user`` when it is an address; when it is not (or
there is none), ``sender`` is required, so a configuration that could not send is refused at load.
"""

from __future__ import annotations

from email.utils import parseaddr
from typing import Any, Literal

from pydantic import Field, FilePath, SecretStr, ValidationInfo, field_validator

from xcore._services.types import ServiceSettings

TlsMode = Literal["starttls", "implicit", "none"]

DEFAULT_PORTS: dict[TlsMode, int] = {"implicit": 465, "starttls": 587, "none": 25}
IMPLICIT_TLS_PORT = 465

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0", "none", ""}


class SmtpSettings(ServiceSettings):
    """``type: smtp`` under ``services.extensions.<name>``."""

    host: str = "localhost"
    port: int | None = Field(None, ge=1, le=65535)
    user: str | None = None
    password: SecretStr | None = None
    tls: bool | TlsMode = True
    validate_certs: bool = True
    ca_file: FilePath | None = None
    sender: str | None = Field(None, validate_default=True)
    timeout: float = Field(30.0, gt=0)

    @field_validator("port", "user", "password", "ca_file", "sender", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("tls", mode="before")
    @classmethod
    def _tls(cls, value: Any) -> Any:
        if isinstance(value, str):
            word = value.strip().lower()
            if word in _TRUE:
                return True
            if word in _FALSE:
                return False
            if word in ("starttls", "implicit"):
                return word
            raise ValueError(f"must be true, false, 'starttls', 'implicit' or 'none' (got {value!r})")
        if value is None:
            return False
        return value

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str | None, info: ValidationInfo) -> str | None:
        """``sender``, else ``user`` when it is an address; with neither, an error at load time naming
        ``sender``, instead of a ``ValueError`` at the first ``send()`` without ``from_=``."""
        if value is None:
            user = info.data.get("user")
            if isinstance(user, str) and "@" in parseaddr(user)[1]:
                return user
            if "user" not in info.data:  # user itself is invalid: its own error says so
                return None
            shown = "is not set" if user is None else f"({user!r}) is not an email address"
            raise ValueError(
                f"required: the login user {shown}, so it cannot be the sender; set sender to the From "
                "address of outgoing mail, such as 'App <app@example.com>'"
            )
        if "@" not in parseaddr(value)[1]:
            raise ValueError(f"must be an email address such as 'App <app@example.com>' (got {value!r})")
        return value

    @property
    def tls_mode(self) -> TlsMode:
        """The effective protection: ``tls: true`` resolved against the port."""
        if self.tls is True:
            return "implicit" if self.port == IMPLICIT_TLS_PORT else "starttls"
        if self.tls is False:
            return "none"
        return self.tls

    @property
    def effective_port(self) -> int:
        return self.port if self.port is not None else DEFAULT_PORTS[self.tls_mode]

    @property
    def default_sender(self) -> str | None:
        """The ``From`` of a message sent without ``from_=``: ``sender``, which defaults to the login
        name when that is an address (as most providers require)."""
        return self.sender
