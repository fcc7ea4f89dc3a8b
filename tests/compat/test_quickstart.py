"""doc/getting-started/quickstart.md: the plugin folders as written, called over the old and new URLs."""

from __future__ import annotations

from typing import Any

import pytest

from xcore.testing.harness import boot_xcore

from .conftest import API_KEY, KEY, directory


def config(step: str, **app: Any) -> dict[str, Any]:
    return {"app": {"api_key": API_KEY, **app}, "plugins": {"directory": directory("quickstart", step)}}


async def test_step2_actions_answer_on_the_original_path(capsys: pytest.CaptureFixture[str]) -> None:
    async with boot_xcore(config=config("step2")) as xcore:
        assert "Hello World plugin loaded!" in capsys.readouterr().out
        record = xcore.record("hello_world")
        assert record.source.version == "1.0.0"  # from plugin.yaml
        response = await xcore.client.post("/app/hello_world/hello", json={"name": "Alice"}, headers=KEY)
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "message": "Hello, Alice!"}
        response = await xcore.client.post(
            "/app/hello_world/greet", json={"name": "Bob", "language": "fr"}, headers=KEY
        )
        assert response.json() == {"status": "ok", "message": "Bonjour, Bob!", "language": "fr"}
        # XCore's own path is the same endpoint
        response = await xcore.client.post("/plugins/hello_world/actions/hello", json={"name": "Eve"}, headers=KEY)
        assert response.json() == {"status": "ok", "message": "Hello, Eve!"}
        unknown = await xcore.call("hello_world", "nope", {})
        assert unknown == {"status": "error", "message": "Unknown action: nope", "code": "unknown_action"}
    assert "Hello World plugin unloaded!" in capsys.readouterr().out


async def test_the_original_action_path_needs_the_key_like_the_new_one() -> None:
    async with boot_xcore(config=config("step2")) as xcore:
        response = await xcore.client.post("/app/hello_world/hello", json={"name": "Alice"})
        assert response.status_code == 401
        response = await xcore.client.post("/app/hello_world/hello", json={}, headers={"X-API-Key": "wrong"})
        assert response.status_code == 401
        response = await xcore.client.post("/app/nobody/hello", json={}, headers=KEY)
        assert response.status_code == 404
    async with boot_xcore(config={"plugins": {"directory": directory("quickstart", "step2")}}) as xcore:
        # without app.api_key no action endpoint exists at all, under either path
        assert (await xcore.client.post("/app/hello_world/hello", json={})).status_code in (404, 405)


async def test_step4_routes() -> None:
    async with boot_xcore(config=config("step4")) as xcore:
        assert (await xcore.client.get("/plugins/hello_world/hello/")).json() == {"message": "Hello World API"}
        assert (await xcore.client.get("/plugins/hello_world/hello/Alice")).json() == {"message": "Hello, Alice!"}
        response = await xcore.client.post("/plugins/hello_world/hello/greet", json={"name": "Charlie"})
        assert response.json() == {"message": "Hello, Charlie!"}
        response = await xcore.client.post("/app/hello_world/hello", json={}, headers=KEY)
        assert response.json() == {"status": "ok", "message": "Hello from IPC!"}


async def test_step4_routes_under_the_original_prefix() -> None:
    async with boot_xcore(config=config("step4", plugin_prefix="/plugin")) as xcore:
        assert (await xcore.client.get("/plugin/hello_world/hello/Alice")).json() == {"message": "Hello, Alice!"}


async def test_step5_cache() -> None:
    async with boot_xcore(config=config("step5")) as xcore:
        first = (await xcore.client.get("/plugins/hello_world/hello/cached-time")).json()
        second = (await xcore.client.get("/plugins/hello_world/hello/cached-time")).json()
        assert first["cached"] is False
        assert second == {"time": first["time"], "cached": True}
        response = await xcore.client.post("/app/hello_world/cache_test", json={}, headers=KEY)
        assert response.json() == {"status": "ok", "cached_value": "test_value"}
