"""Plugin-to-plugin calls and sandboxes: granted by ``plugins: {call: [...]}``, denied otherwise.

Real worker processes: a sandboxed relay calls a sandboxed and a trusted plugin's actions; a trusted
relay calls a sandboxed one. Each denial is a ``PermissionError`` naming the permission, an audit
line and a kernel event.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from xcore import Xcore
from xcore._errors import ConfigError

sys.path.insert(0, str(Path(__file__).parent / "sandbox_plugins"))

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the OS walls are Linux's")


def config(tmp_path: Path, calls: list[str] | None) -> dict[str, Any]:
    relay: dict[str, Any] = {"sandbox": {"data_dir": str(tmp_path / "relay")}}
    if calls is not None:
        relay["permissions"] = [{"plugins": {"call": calls}}]
    return {
        "plugins": {
            "local": {
                "relay": "sbx_plugins.echo:Relay",
                "relay_t": "sbx_plugins.echo:Relay",
                "other": "sbx_plugins.other:Other",
                "echo_t": "sbx_plugins.echo:Echo",
            },
            "sandboxed": {"relay": relay, "other": {"sandbox": {"data_dir": str(tmp_path / "other")}}},
        },
        "services": {
            "databases": {},
            "cache": {"backend": "memory"},
            "events": {"backend": "memory"},
            "scheduler": {"enabled": False},
            "extensions": {},
        },
    }


@pytest.fixture
async def host(tmp_path: Path) -> AsyncIterator[Xcore]:
    xcore = Xcore(config=config(tmp_path, ["other.ping", "echo_t.*"]), discover=False)
    await xcore.boot()
    assert xcore.records["relay"].state == "loaded", xcore.records["relay"].error
    yield xcore
    await xcore.shutdown()


async def relay(host: Xcore, plugin: str, action: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    return await host.call("relay", "relay", {"plugin": plugin, "action": action, "payload": payload})


async def test_granted_calls_reach_sandboxed_and_trusted_plugins(host: Xcore) -> None:
    answer = await relay(host, "other", "ping")
    assert answer == {"status": "ok", "blocked": False, "answer": {"status": "ok", "pong": True}}
    answer = await relay(host, "echo_t", "echo", {"n": 1})
    assert answer["answer"] == {"status": "ok", "echo": {"n": 1}}
    assert host.records["relay"].report()["sandbox"]["granted"] == ["plugins:call=other.ping,echo_t.*"]


async def test_ungranted_calls_raise_permission_error_with_audit_and_event(
    host: Xcore, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[Any] = []
    host.get_service("events").on("xcore.sandbox.denied", seen.append)
    for plugin, action in [("other", "secret"), ("relay_t", "relay")]:
        answer = await relay(host, plugin, action)
        assert answer["blocked"] is True, answer
        permission = f"plugins: {{call: ['{plugin}.{action}']}}"
        assert f"lacks permission {permission}" in answer["error"], answer
        assert f"sandbox audit: plugin 'relay' denied plugins.call: lacks permission {permission}" in caplog.text
    assert [e.data["permission"] for e in seen] == [
        "plugins: {call: ['other.secret']}",
        "plugins: {call: ['relay_t.relay']}",
    ]
    # the callee never ran, and the relay still serves
    assert (await relay(host, "other", "ping"))["answer"]["pong"] is True


async def test_without_the_permission_every_call_is_denied(tmp_path: Path) -> None:
    xcore = Xcore(config=config(tmp_path, None), discover=False)
    await xcore.boot()
    try:
        answer = await relay(xcore, "other", "ping")
        assert answer["blocked"] is True and "plugins: {call: ['other.ping']}" in answer["error"], answer
    finally:
        await xcore.shutdown()


async def test_a_trusted_plugin_calls_a_sandboxed_plugin(host: Xcore) -> None:
    answer = await host.call("relay_t", "relay", {"plugin": "other", "action": "ping"})
    assert answer == {"status": "ok", "blocked": False, "answer": {"status": "ok", "pong": True}}
    # and through the sandboxed relay, trusted -> sandboxed -> sandboxed
    answer = await host.call(
        "relay_t", "relay", {"plugin": "relay", "action": "relay", "payload": {"plugin": "other", "action": "ping"}}
    )
    assert answer["answer"]["answer"] == {"status": "ok", "pong": True}


@pytest.mark.parametrize(
    ("grant", "message"),
    [
        ({"plugins": {"calls": ["other.*"]}}, "calls"),
        ({"plugins": {"call": ["other"]}}, "'<plugin>.<action>'"),
        ({"plugins": {"call": ["oth*er.x"]}}, "oth\\*er"),
        ({"plugins": None}, "call"),
    ],
)
def test_bad_plugins_permission_is_a_config_error(grant: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Xcore(config={"plugins": {"sandboxed": {"p": {"permissions": [grant]}}}}, discover=False)
