"""A real SMTP server on 127.0.0.1 (aiosmtpd) that records what it receives.

:class:`SmtpServer` runs in its own thread and event loop and keeps every message with its envelope,
so a test checks what was really delivered. It speaks plain SMTP, STARTTLS or implicit TLS with a
self-signed certificate made on the spot, accepts AUTH with one user name and password when given,
and refuses recipients ``@refused.test``. ``stop()`` then ``start()`` restarts on the same port.
"""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import ssl
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

from xcore.testing.servers.ports import ServerUnavailable, free_port

SmtpTls = Literal["none", "starttls", "implicit"]

REFUSED_DOMAIN = "@refused.test"
"""The test SMTP server refuses every recipient at this domain (``550``), to test partial delivery."""


@dataclass(frozen=True)
class Delivered:
    """One message as an SMTP server (or a test outbox) received it."""

    sender: str
    """The envelope sender (``MAIL FROM``)."""
    recipients: list[str]
    """The envelope recipients (``RCPT TO``): To, Cc and Bcc together."""
    message: EmailMessage
    """The parsed message (``email.policy.default``): headers, body parts, attachments."""


def make_certificate(folder: Path, hostnames: tuple[str, ...] = ("localhost", "127.0.0.1")) -> tuple[Path, Path]:
    """A self-signed certificate and key for ``hostnames`` in ``folder``: ``(cert.pem, key.pem)``.

    The certificate is its own CA, so a client can trust exactly it with ``ca_file``. Uses the
    ``cryptography`` package when installed, else the ``openssl`` command.
    """
    cert, key = folder / "cert.pem", folder / "key.pem"
    try:
        _certificate_with_cryptography(cert, key, hostnames)
    except ImportError:
        openssl = shutil.which("openssl")
        if openssl is None:
            raise ServerUnavailable("making a TLS certificate needs the cryptography package or openssl") from None
        names = ",".join(f"IP:{h}" if _is_ip(h) else f"DNS:{h}" for h in hostnames)
        proc = subprocess.run(
            [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={hostnames[0]}",
             "-addext", f"subjectAltName={names}", "-keyout", str(key), "-out", str(cert)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise ServerUnavailable(f"openssl could not make a certificate: {proc.stderr.strip()}") from None
    return cert, key


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _certificate_with_cryptography(cert_path: Path, key_path: Path, hostnames: tuple[str, ...]) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])])
    now = datetime.datetime.now(datetime.UTC)
    alt_names: list[x509.GeneralName] = [
        x509.IPAddress(ipaddress.ip_address(h)) if _is_ip(h) else x509.DNSName(h) for h in hostnames
    ]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


class _Capture:
    """aiosmtpd handler keeping every delivered message."""

    def __init__(self, inbox: list[Delivered]) -> None:
        self.inbox = inbox

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if address.lower().endswith(REFUSED_DOMAIN):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        parsed = message_from_bytes(raw, policy=policy.default)
        self.inbox.append(Delivered(envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"


class SmtpServer:
    """An SMTP server on ``127.0.0.1:port`` that records what it receives in ``messages``."""

    def __init__(self, tls: SmtpTls = "none", user: str | None = None, password: str | None = None) -> None:
        self.tls: SmtpTls = tls
        self.user = user
        self.password = password
        self.port = free_port()
        self.host = "127.0.0.1"
        self.messages: list[Delivered] = []
        self._lock = threading.Lock()
        self._controller: Any = None
        self.dir = Path(tempfile.mkdtemp(prefix="xcore-smtp-"))
        self.cert_file: Path | None = None
        self._key_file: Path | None = None
        if tls != "none":
            self.cert_file, self._key_file = make_certificate(self.dir)

    def _server_context(self) -> ssl.SSLContext:
        assert self.cert_file is not None and self._key_file is not None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self._key_file)
        return context

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        good = (
            isinstance(auth_data, LoginPassword)
            and self.user is not None
            and self.password is not None
            and auth_data.login == self.user.encode()
            and auth_data.password == self.password.encode()
        )
        return AuthResult(success=good, handled=False)

    def start(self) -> SmtpServer:
        try:
            from aiosmtpd.controller import Controller
        except ImportError:
            raise ServerUnavailable("aiosmtpd is not installed (pip install aiosmtpd)") from None
        kwargs: dict[str, Any] = {}
        if self.tls == "implicit":
            kwargs["ssl_context"] = self._server_context()
        elif self.tls == "starttls":
            kwargs["tls_context"] = self._server_context()
            kwargs["require_starttls"] = True
        if self.user is not None:
            kwargs["authenticator"] = self._authenticate
            kwargs["auth_require_tls"] = self.tls == "starttls"
        controller = Controller(_Capture(self.messages), hostname=self.host, port=self.port, **kwargs)
        try:
            controller.start()
        except Exception as exc:
            raise ServerUnavailable(f"aiosmtpd did not start on port {self.port}: {exc}") from exc
        self._controller = controller
        return self

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    @property
    def running(self) -> bool:
        return self._controller is not None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """An ``smtp`` service section pointing at this server (credentials included when set)."""
        section: dict[str, Any] = {
            "type": "smtp", "host": self.host, "port": self.port, "tls": self.tls,
            "sender": "xcore@example.test", "timeout": 10,
        }  # fmt: skip
        if self.cert_file is not None:
            section["ca_file"] = str(self.cert_file)
        if self.user is not None:
            section.update(user=self.user, password=self.password)
        section.update(overrides)
        return section
