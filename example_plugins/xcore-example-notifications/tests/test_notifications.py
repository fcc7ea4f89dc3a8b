"""Notifications on the embedded defaults (local storage, no email) and with an email test double."""

import pytest
from xcore_example_notifications import Plugin
from xcore_example_users import Plugin as Users


class Outbox:
    """A stand-in for ext.email that keeps what would have been sent."""

    def __init__(self):
        self.sent = []

    async def send(self, to, subject, body):
        self.sent.append((to, subject, body))

        class Sent:
            message_id = f"<{len(self.sent)}@test>"

        return Sent()


@pytest.fixture
def xcore_plugins():
    return {"users": Users, "notifications": Plugin}


async def test_files_round_trip_on_local_storage(xcore_client):
    stored = await xcore_client.put("/plugins/notifications/files/report.txt", content=b"quarterly numbers")
    assert stored.status_code == 201
    assert stored.json()["url"].endswith("uploads/report.txt")
    assert (await xcore_client.get("/plugins/notifications/files")).json() == {"files": ["report.txt"]}
    assert (await xcore_client.get("/plugins/notifications/files/report.txt")).content == b"quarterly numbers"
    assert (await xcore_client.get("/plugins/notifications/files/nope.txt")).status_code == 404


async def test_bad_uploads_are_refused_and_nothing_is_written(xcore_client):
    assert (await xcore_client.put("/plugins/notifications/files/empty.txt", content=b"")).status_code == 422
    backslash = await xcore_client.put("/plugins/notifications/files/a%5Cb.txt", content=b"x")  # "a\b.txt"
    assert backslash.status_code == 422
    assert "backslash" in backslash.json()["detail"]
    assert (await xcore_client.get("/plugins/notifications/files")).json() == {"files": []}


async def test_without_email_the_plugin_says_what_to_configure(xcore_host):
    response = await xcore_host.client.post("/plugins/notifications/notify", json={"to": "a@b.c", "message": "hi"})
    assert response.status_code == 503
    assert response.json()["detail"].startswith("ext.email is not configured: add services.extensions.email")
    answer = await xcore_host.call("notifications", "notify_user", {"user_id": 1, "message": "hi"})
    assert answer["code"] == "service_unavailable"
    report = await xcore_host.health()  # what /health/ready shows a client with the API key
    assert report["plugins"]["notifications"]["email"] == "not configured"
    assert report["status"] == "ok"


async def test_notify_user_through_the_users_plugin(xcore_boot):
    outbox = Outbox()
    xcore = await xcore_boot(plugins={"users": Users, "notifications": Plugin}, services={"ext.email": outbox})
    await xcore.client.post("/plugins/users/users", json={"username": "ann", "email": "ann@example.com"})
    answer = await xcore.call("notifications", "notify_user", {"user_id": 1, "message": "Welcome"})
    assert answer == {"status": "ok", "sent_to": "ann@example.com", "message_id": "<1@test>"}
    assert outbox.sent == [("ann@example.com", "Notification", "Welcome")]
    missing = await xcore.call("notifications", "notify_user", {"user_id": 9, "message": "x"})
    assert missing["code"] == "not_found"
    assert len(outbox.sent) == 1
