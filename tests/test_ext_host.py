"""The spec's "Custom Extensions" section, run as written on a real host.

The YAML is the spec's, byte for byte; only the environment points it at local servers: an SMTP
server speaking STARTTLS with login (``tls: true`` on a port other than 465 means STARTTLS), whose
self-signed certificate is trusted through ``SSL_CERT_FILE``, and moto's S3, reached through the
standard AWS variables (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``...): credentials and endpoint
come "from the usual places", as they would on a server.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from xcore import Xcore
from xcore._errors import ConfigError
from xcore.sdk import TrustedBase, ok
from xcore.testing.servers import S3Server, SmtpServer

SEED_YAML = """\
services:
  extensions:
    email:
      type: smtp
      host: "${SMTP_HOST}"
      port: "${SMTP_PORT}"
      user: "${SMTP_USER}"
      password: "${SMTP_PASSWORD}"
      tls: true

    storage:
      type: s3
      bucket: "${S3_BUCKET}"
      region: "${AWS_REGION}"
"""


class Plugin(TrustedBase):
    """The spec's plugin, plus ``handle`` to drive its two methods."""

    async def on_load(self) -> None:
        self.email = self.get_service("ext.email")
        self.storage = self.get_service("ext.storage")

    async def send_notification(self, user_email: str, message: str) -> None:
        """Send email notification."""
        await self.email.send(
            to=user_email,
            subject="Notification",
            body=message
        )  # fmt: skip

    async def upload_file(self, file_data: bytes, filename: str) -> str:
        """Upload file to storage."""
        url: str = await self.storage.upload(
            data=file_data,
            path=f"uploads/{filename}"
        )  # fmt: skip
        return url

    async def handle(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        if action == "notify":
            await self.send_notification(payload["to"], payload["message"])
            return ok()
        if action == "upload":
            return ok(url=await self.upload_file(payload["data"].encode(), payload["filename"]))
        return await super().handle(action, payload)


@pytest.fixture
def seed_env(
    starttls_server: SmtpServer, s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    if not s3_server.running:
        s3_server.start()
    assert starttls_server.cert_file is not None
    monkeypatch.chdir(tmp_path)  # the embedded SQLite file and other defaults land here
    monkeypatch.setenv("SSL_CERT_FILE", str(starttls_server.cert_file))
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_access_key)
    bucket = s3_server.create_bucket(f"seed-{uuid.uuid4().hex[:8]}")
    (tmp_path / "integration.yaml").write_text(SEED_YAML)
    return {
        "SMTP_HOST": starttls_server.host, "SMTP_PORT": str(starttls_server.port),
        "SMTP_USER": str(starttls_server.user), "SMTP_PASSWORD": str(starttls_server.password),
        "S3_BUCKET": bucket, "AWS_REGION": "us-east-1",
    }  # fmt: skip


async def test_the_spec_example_runs_as_written(
    seed_env: dict[str, str], starttls_server: SmtpServer, s3_server: S3Server
) -> None:
    host = Xcore("integration.yaml", env=seed_env, plugins={"notifier": Plugin}, discover=False)
    await host.boot()
    try:
        notifier = next(r for r in host.plugins if r.name == "notifier")
        assert notifier.state == "loaded", notifier.error

        assert await host.call("notifier", "notify", {"to": "ann@example.com", "message": "Your export is ready"}) == {
            "status": "ok"
        }
        mail = starttls_server.messages[-1]
        assert mail.recipients == ["ann@example.com"]
        assert mail.sender == starttls_server.user  # the login is the default sender
        assert mail.message["Subject"] == "Notification"
        assert mail.message.get_content().strip() == "Your export is ready"

        answer = await host.call("notifier", "upload", {"data": "col\n1\n", "filename": "export.csv"})
        bucket = seed_env["S3_BUCKET"]
        assert answer == {"status": "ok", "url": f"https://{bucket}.s3.us-east-1.amazonaws.com/uploads/export.csv"}
        storage = host.get_service("ext.storage")
        assert await storage.download("uploads/export.csv") == b"col\n1\n"

        health = await host.health()
        assert health["services"]["ext.email"]["status"] == "ok", health["services"]["ext.email"]
        assert health["services"]["ext.email"]["tls"] == "starttls"
        assert health["services"]["ext.storage"]["status"] == "ok", health["services"]["ext.storage"]
    finally:
        await host.shutdown()


async def test_a_bad_port_variable_names_the_key_path(seed_env: dict[str, str]) -> None:
    host = Xcore("integration.yaml", env={**seed_env, "SMTP_PORT": "smtp"}, discover=False)
    with pytest.raises(ConfigError) as caught:
        await host.boot()
    assert "services.extensions.email.port" in str(caught.value)
    assert seed_env["SMTP_PASSWORD"] not in str(caught.value)


async def test_an_unknown_extension_type_names_the_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    host = Xcore(config={"services": {"extensions": {"storage": {"type": "gcs", "bucket": "b"}}}}, discover=False)
    with pytest.raises(ConfigError) as caught:
        await host.boot()
    message = str(caught.value)
    assert "services.extensions.storage: unknown extension type 'gcs'" in message
    for known in ("local", "s3", "smtp"):
        assert known in message


async def test_the_embedded_default_storage_is_local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    host = Xcore(config={}, discover=False)
    await host.boot()
    try:
        storage = host.get_service("ext.storage")
        await storage.upload(data=b"x", path="k.txt")
        assert (tmp_path / ".xcore" / "storage" / "k.txt").read_bytes() == b"x"
    finally:
        await host.shutdown()
