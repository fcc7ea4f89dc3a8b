"""XCore's ``smtp`` backend through the email conformance suite: plain SMTP with login, and STARTTLS."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from xcore.testing.conformance import EmailConformance
from xcore.testing.servers import Delivered, SmtpServer


class TestSmtpPlain(EmailConformance):
    @pytest.fixture
    def service_config(self, smtp_server: SmtpServer) -> dict[str, Any]:
        return smtp_server.settings()

    @pytest.fixture
    def delivered(self, smtp_server: SmtpServer) -> Callable[[], list[Delivered]]:
        return lambda: smtp_server.messages


class TestSmtpStarttls(EmailConformance):
    @pytest.fixture
    def service_config(self, starttls_server: SmtpServer) -> dict[str, Any]:
        return starttls_server.settings()

    @pytest.fixture
    def delivered(self, starttls_server: SmtpServer) -> Callable[[], list[Delivered]]:
        return lambda: starttls_server.messages
