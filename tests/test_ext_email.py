"""``type: smtp``: settings as they arrive from ``${VAR}``, TLS modes, login, outages, refusals.

Delivery itself (headers, bodies, attachments, Bcc) is checked by the email conformance suite in
``test_conformance_email.py``; here are the transport's own promises.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import serve
from xcore._builtin_services.email import EmailError, SmtpEmail, SmtpSettings
from xcore._errors import ServiceError
from xcore.testing.conformance import running_service, settings_error
from xcore.testing.servers import SmtpServer


@pytest.fixture(scope="module")
def implicit_server() -> Iterator[SmtpServer]:
    yield from serve(lambda: SmtpServer(tls="implicit", user="ssl-user@example.test", password="ssl-secret-pw").start())


def section(server: SmtpServer, **overrides: Any) -> dict[str, Any]:
    return server.settings(**overrides)


def smtp_email(server: SmtpServer, **overrides: Any) -> SmtpEmail:
    """The service built directly (no start), to watch start, health and send separately."""
    settings = {k: v for k, v in server.settings(**overrides).items() if k != "type"}
    return SmtpEmail(SmtpSettings.model_validate(settings), "ext.email")


# ---------------------------------------------------------------------- settings


@pytest.mark.parametrize(("raw", "mode", "port"), [
    ({"tls": True}, "starttls", 587),
    ({"tls": "true", "port": "465"}, "implicit", 465),
    ({"tls": "true", "port": "2525"}, "starttls", 2525),
    ({"tls": "starttls", "port": "465"}, "starttls", 465),
    ({"tls": "implicit"}, "implicit", 465),
    ({"tls": False}, "none", 25),
    ({"tls": "none", "port": "1025"}, "none", 1025),
    ({"tls": "FALSE"}, "none", 25),
    ({}, "starttls", 587),
])  # fmt: skip
def test_tls_and_port_as_written_in_yaml_or_variables(raw: dict[str, Any], mode: str, port: int) -> None:
    settings = SmtpSettings.model_validate({"sender": "app@example.com", **raw})
    assert (settings.tls_mode, settings.effective_port) == (mode, port)


def test_empty_variables_mean_no_login() -> None:
    """``user: "${SMTP_USER:-}"`` on a relay without authentication expands to ``""``."""
    settings = SmtpSettings.model_validate({"user": "", "password": "", "port": "", "sender": "app@example.com"})
    assert settings.user is None and settings.password is None and settings.port is None
    assert "username" not in SmtpEmail(settings, "ext.email")._connection()


def test_the_login_is_the_default_sender_when_it_is_an_address() -> None:
    assert SmtpSettings(user="app@example.com").default_sender == "app@example.com"
    assert SmtpSettings(user="app@example.com").sender == "app@example.com"  # shown so by config check
    assert SmtpSettings(user="app@example.com", sender="App <no-reply@example.com>").default_sender == (
        "App <no-reply@example.com>"
    )


@pytest.mark.parametrize(("settings", "message"), [
    ({"type": "smtp", "tls": "maybe"}, "services.extensions.email.tls: Value error, must be true, false, 'starttls'"),
    ({"type": "smtp", "port": "smtp"}, "services.extensions.email.port: Input should be a valid integer"),
    ({"type": "smtp", "port": 70000}, "services.extensions.email.port"),
    ({"type": "smtp", "sender": "nobody"}, "services.extensions.email.sender: Value error, must be an email address"),
    ({"type": "smtp", "ca_file": "/no/such/ca.pem"}, "services.extensions.email.ca_file"),
    ({"type": "smtp", "pasword": "x"}, "services.extensions.email.pasword: unknown key; did you mean 'password'?"),
    ({"type": "smpt"}, "services.extensions.email: unknown extension type 'smpt'. Did you mean 'smtp'?"),
])  # fmt: skip
async def test_bad_settings_name_the_key_path(settings: dict[str, Any], message: str) -> None:
    assert message in str(await settings_error("extension", settings, name="email"))


# ---------------------------------------------------------------------- TLS and login


async def test_implicit_tls_with_login_and_a_private_ca(implicit_server: SmtpServer) -> None:
    async with running_service("extension", section(implicit_server), name="email") as email:
        assert await email.health() == {"server": f"127.0.0.1:{implicit_server.port}", "tls": "implicit"}
        result = await email.send(to="ann@example.com", subject="over TLS", body="b")
    assert result.recipients == ["ann@example.com"]
    assert implicit_server.messages[-1].message["Subject"] == "over TLS"
    assert implicit_server.messages[-1].sender == "xcore@example.test"


async def test_starttls_refuses_an_untrusted_certificate(starttls_server: SmtpServer) -> None:
    settings = section(starttls_server)
    del settings["ca_file"]
    with pytest.raises(ServiceError, match="certificate verify failed"):
        async with running_service("extension", settings, name="email"):
            pass


async def test_validate_certs_false_accepts_a_self_signed_certificate(starttls_server: SmtpServer) -> None:
    settings = section(starttls_server, validate_certs=False)
    del settings["ca_file"]
    async with running_service("extension", settings, name="email") as email:
        await email.send(to="ann@example.com", subject="unchecked", body="b")
    assert starttls_server.messages[-1].message["Subject"] == "unchecked"


async def test_starttls_against_a_server_without_it_fails_clearly(smtp_server: SmtpServer) -> None:
    with pytest.raises(ServiceError, match="STARTTLS"):
        async with running_service("extension", section(smtp_server, tls="starttls"), name="email"):
            pass


async def test_a_wrong_password_is_reported_without_the_password(smtp_server: SmtpServer) -> None:
    email = smtp_email(smtp_server, password="wrong-pw-1234")
    for attempt in (email.health(), email.send(to="ann@example.com", subject="s", body="b")):
        with pytest.raises(EmailError) as caught:
            await attempt
        text = str(caught.value)
        assert "refused the login of user 'mailer@example.test'" in text
        assert "wrong-pw-1234" not in text


# ---------------------------------------------------------------------- outages and refusals


async def test_a_server_down_at_boot_is_used_once_it_is_back() -> None:
    server = SmtpServer()
    email = smtp_email(server)
    try:
        with pytest.raises(EmailError, match=f"cannot (connect to|reach) 127.0.0.1:{server.port}"):
            await email.start()
        with pytest.raises(EmailError):
            await email.send(to="ann@example.com", subject="lost", body="b")
        server.start()
        await email.health()
        await email.send(to="ann@example.com", subject="after the outage", body="b")
        assert [m.message["Subject"] for m in server.messages] == ["after the outage"]
    finally:
        server.cleanup()


async def test_refused_recipients_are_reported(smtp_server: SmtpServer) -> None:
    async with running_service("extension", section(smtp_server), name="email") as email:
        result = await email.send(to=["ann@example.com", "ghost@refused.test"], subject="partial", body="b")
        assert result.recipients == ["ann@example.com"]
        assert list(result.refused) == ["ghost@refused.test"]
        assert result.refused["ghost@refused.test"].startswith("550")
        before = len(smtp_server.messages)
        with pytest.raises(EmailError, match="refused every recipient"):
            await email.send(to="ghost@refused.test", subject="nobody", body="b")
        assert len(smtp_server.messages) == before


@pytest.mark.parametrize("to", [
    "Bob Bcc: eve@evil.test <bob@example.com>",  # a display name built from user input, read as a group
    "x: eve@evil.test, <bob@example.com>",
    ["Bob\u2028Cc: eve@evil.test <bob@example.com>"],
])  # fmt: skip
async def test_a_display_name_cannot_add_recipients(smtp_server: SmtpServer, to: Any) -> None:
    """``to=f"{name} <{address}>"`` with a name typed by a user: an unquoted ':' makes the parser read a
    group and mail an address hidden in the name. Refused, nothing sent; quoted names still work."""
    async with running_service("extension", section(smtp_server), name="email") as email:
        before = len(smtp_server.messages)
        with pytest.raises(ValueError, match=r"email to: .*':' outside quotes"):
            await email.send(to=to, subject="s", body="b")
        assert len(smtp_server.messages) == before
        result = await email.send(to='"Bob: the builder" <bob@example.com>, ann@example.com', subject="s", body="b")
        assert result.recipients == ["bob@example.com", "ann@example.com"]


async def test_attachments_from_paths(smtp_server: SmtpServer, tmp_path: Path) -> None:
    report = tmp_path / "report.csv"
    report.write_bytes(b"a,b\n1,2\n")
    async with running_service("extension", section(smtp_server), name="email") as email:
        await email.send(to="ann@example.com", subject="csv", body="b", attachments=[report, str(report)])
        parts = list(smtp_server.messages[-1].message.iter_attachments())
        assert [p.get_filename() for p in parts] == ["report.csv", "report.csv"]
        assert parts[0].get_payload(decode=True) == b"a,b\n1,2\n"
        before = len(smtp_server.messages)
        with pytest.raises(FileNotFoundError, match=r"missing\.pdf"):
            await email.send(to="ann@example.com", subject="s", body="b", attachments=[tmp_path / "missing.pdf"])
        assert len(smtp_server.messages) == before


@pytest.mark.parametrize("user", [None, "", "apikey"])
async def test_without_any_sender_the_configuration_is_refused_at_load(smtp_server: SmtpServer, user: Any) -> None:
    """Neither ``sender`` nor a login that is an address: a load-time error naming ``sender``, never a
    surprise at the first ``send()``."""
    settings = section(smtp_server)
    del settings["sender"], settings["password"]
    settings["user"] = user
    error = str(await settings_error("extension", settings, name="email"))
    assert "services.extensions.email.sender: Value error, required: the login user" in error
    assert "set sender to the From address" in error
