"""The email conformance suite: what plugins may rely on from any ``ext.email`` backend.

Besides ``service_config``, the author overrides ``delivered``: a callable returning every message
the backend has delivered so far, as :class:`~xcore.testing.servers.Delivered`
(envelope sender, envelope recipients, parsed message), including every message whose ``send``
has returned. For a backend that speaks SMTP, point it at
:class:`~xcore.testing.servers.SmtpServer` and return ``server.messages``::

    class TestMyEmail(EmailConformance):
        @pytest.fixture
        def service_config(self, smtp_server):
            return {"type": "my-email", "host": smtp_server.host, "port": smtp_server.port}

        @pytest.fixture
        def delivered(self, smtp_server):
            return lambda: smtp_server.messages

A backend that hands mail to an HTTP API returns what the API (or a local stand-in) received.
Builders such as :func:`xcore._builtin_services.email.compose` give a new backend the same message
layout and the same refusals as the built-in ``smtp`` type.
"""

from __future__ import annotations

from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import pytest

from xcore._builtin_services.email.message import Attachment
from xcore.testing.conformance.base import ConformanceSuite
from xcore.testing.servers import Delivered

Inbox = Callable[[], list[Delivered]]


def _text(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None:
        return None
    content = part.get_content()  # type: ignore[attr-defined]
    return str(content).replace("\r\n", "\n")  # SMTP carries CRLF line ends; compare text, not transport


class EmailConformance(ConformanceSuite):
    """Headers, bodies, HTML, attachments, Cc/Bcc, sender, and the refusals of bad input."""

    kind = "extension"
    section_name = "email"

    @pytest.fixture
    def delivered(self) -> Inbox:
        """Override: a callable returning every message delivered so far (oldest first)."""
        pytest.fail(f"{type(self).__name__} must override the 'delivered' fixture (see EmailConformance)")

    @pytest.fixture
    def new_mail(self, delivered: Inbox) -> Inbox:
        """Only the messages delivered since this test began."""
        already = len(delivered())
        return lambda: delivered()[already:]

    async def send_one(self, service: Any, new_mail: Inbox, **kwargs: Any) -> tuple[Any, Delivered]:
        result = await service.send(**kwargs)
        mail = new_mail()
        assert len(mail) == 1, f"expected exactly one delivered message, got {len(mail)}"
        return result, mail[0]

    async def test_a_plain_message_arrives_with_its_headers_and_body(
        self, service: Any, new_mail: Inbox, unique: str
    ) -> None:
        _result, mail = await self.send_one(
            service, new_mail, to="ann@example.com", subject=f"Notification {unique}", body="Hello Ann,\nbye."
        )
        assert mail.message["To"] == "ann@example.com"
        assert mail.message["Subject"] == f"Notification {unique}"
        assert mail.message["From"]
        assert mail.message["Date"]
        assert mail.message["Message-ID"]
        assert mail.recipients == ["ann@example.com"]
        assert (_text(mail.message, "plain") or "").strip() == "Hello Ann,\nbye."

    async def test_the_result_names_the_message_id(self, service: Any, new_mail: Inbox) -> None:
        result, mail = await self.send_one(service, new_mail, to="ann@example.com", subject="id", body="b")
        assert result.message_id == mail.message["Message-ID"]

    async def test_html_goes_with_a_text_alternative(self, service: Any, new_mail: Inbox) -> None:
        _result, mail = await self.send_one(
            service, new_mail, to="ann@example.com", subject="html", body="plain words", html="<p>rich <b>words</b></p>"
        )
        assert (_text(mail.message, "plain") or "").strip() == "plain words"
        assert (_text(mail.message, "html") or "").strip() == "<p>rich <b>words</b></p>"

    async def test_non_ascii_subject_body_and_display_names(self, service: Any, new_mail: Inbox) -> None:
        _result, mail = await self.send_one(
            service, new_mail, to="Zoë Ünal <zoe@example.com>", subject="Café ☕ déjà vu", body="Grüße, 你好"
        )
        assert mail.message["Subject"] == "Café ☕ déjà vu"
        assert (_text(mail.message, "plain") or "").strip() == "Grüße, 你好"
        assert mail.message["To"].addresses[0].display_name == "Zoë Ünal"
        assert mail.recipients == ["zoe@example.com"]

    async def test_cc_is_visible_and_bcc_is_delivered_but_hidden(self, service: Any, new_mail: Inbox) -> None:
        _result, mail = await self.send_one(
            service, new_mail, to=["ann@example.com", "bob@example.com"], cc="carol@example.com",
            bcc=["secret@example.com"], subject="team", body="b",
        )  # fmt: skip
        assert sorted(mail.recipients) == ["ann@example.com", "bob@example.com", "carol@example.com",
                                           "secret@example.com"]  # fmt: skip
        assert [a.addr_spec for a in mail.message["To"].addresses] == ["ann@example.com", "bob@example.com"]
        assert [a.addr_spec for a in mail.message["Cc"].addresses] == ["carol@example.com"]
        assert mail.message["Bcc"] is None
        headers = "".join(f"{k}: {v}\n" for k, v in mail.message.items())
        assert "secret@example.com" not in headers

    async def test_a_comma_separated_string_names_several_recipients(self, service: Any, new_mail: Inbox) -> None:
        _result, mail = await self.send_one(
            service, new_mail, to="ann@example.com, Bob <bob@example.com>", subject="two", body="b"
        )
        assert sorted(mail.recipients) == ["ann@example.com", "bob@example.com"]

    async def test_attachments_arrive_with_name_type_and_bytes(self, service: Any, new_mail: Inbox) -> None:
        pdf = b"%PDF-1.4 " + bytes(range(256))
        _result, mail = await self.send_one(
            service, new_mail, to="ann@example.com", subject="files", body="see attached",
            attachments=[("report.pdf", pdf), Attachment("data.bin", b"\x00\x01\x02", "application/x-custom"),
                         ("notes.txt", "é".encode(), "text/plain")],
        )  # fmt: skip
        parts = {part.get_filename(): part for part in mail.message.iter_attachments()}
        assert set(parts) == {"report.pdf", "data.bin", "notes.txt"}
        assert parts["report.pdf"].get_content_type() == "application/pdf"
        assert parts["report.pdf"].get_payload(decode=True) == pdf
        assert parts["data.bin"].get_content_type() == "application/x-custom"
        assert parts["data.bin"].get_payload(decode=True) == b"\x00\x01\x02"
        assert parts["notes.txt"].get_payload(decode=True) == "é".encode()
        assert (_text(mail.message, "plain") or "").strip() == "see attached"

    async def test_from_overrides_the_default_sender(self, service: Any, new_mail: Inbox) -> None:
        _result, mail = await self.send_one(
            service, new_mail, to="ann@example.com", subject="s", body="b", from_="Billing <billing@example.org>"
        )
        assert mail.message["From"].addresses[0].addr_spec == "billing@example.org"
        assert mail.message["From"].addresses[0].display_name == "Billing"
        assert mail.sender == "billing@example.org"

    @pytest.mark.parametrize(
        ("arguments", "error"),
        [
            ({"to": None}, ValueError),
            ({"to": []}, ValueError),
            ({"to": "not-an-address"}, ValueError),
            ({"subject": "hi\r\nBcc: victim@example.com"}, ValueError),
            ({"to": "ann@example.com\nBcc: victim@example.com"}, ValueError),
            ({"from_": "nobody"}, ValueError),
            ({"body": b"bytes body"}, TypeError),
            ({"attachments": [("a.txt", "text, not bytes")]}, TypeError),
        ],
        ids=["no-recipient", "empty-list", "bad-address", "subject-injection", "to-injection", "bad-sender",
             "bytes-body", "text-attachment"],
    )  # fmt: skip
    async def test_bad_input_is_refused_before_anything_is_sent(
        self, service: Any, new_mail: Inbox, arguments: dict[str, Any], error: type[Exception]
    ) -> None:
        message: dict[str, Any] = {"to": "ann@example.com", "subject": "s", "body": "b", **arguments}
        with pytest.raises(error):
            await service.send(**message)
        assert new_mail() == []

    async def test_health_reports_ok(self, service: Any) -> None:
        await service.health()
