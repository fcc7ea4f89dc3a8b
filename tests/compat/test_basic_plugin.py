"""docs/examples/basic-plugin.md: the calculator, its HTTP routes and its IPC actions as the page calls them."""

from __future__ import annotations

import pytest

from xcore.testing.harness import boot_xcore

from .conftest import API_KEY, KEY, directory

CONFIG = {"app": {"api_key": API_KEY}, "plugins": {"directory": directory("basic_plugin")}}


async def test_http_endpoints_as_the_page_curls_them() -> None:
    async with boot_xcore(config=CONFIG) as xcore:
        client = xcore.client
        add = (await client.get("/plugins/calculator/calc/add", params={"a": 10, "b": 5})).json()
        assert add == {"operation": "add", "a": 10, "b": 5, "result": 15}
        divide = (await client.get("/plugins/calculator/calc/divide", params={"a": 100, "b": 4})).json()
        assert divide["result"] == 25
        power = (await client.get("/plugins/calculator/calc/power", params={"base": 2, "exp": 10})).json()
        assert power["result"] == 1024
        assert (await client.get("/plugins/calculator/calc/sqrt", params={"value": 16})).json()["result"] == 4
        by_zero = await client.get("/plugins/calculator/calc/divide", params={"a": 10, "b": 0})
        assert by_zero.status_code == 400
        history = (await client.get("/plugins/calculator/calc/history", params={"limit": 5})).json()["history"]
        assert [h["operation"] for h in history] == ["sqrt", "power", "divide", "add"]
        assert (await client.post("/plugins/calculator/calc/clear")).json() == {"cleared": True}
        assert (await client.get("/plugins/calculator/calc/history")).json() == {"history": []}


async def test_ipc_calls_as_the_page_curls_them(capsys: pytest.CaptureFixture[str]) -> None:
    async with boot_xcore(config=CONFIG) as xcore:
        client = xcore.client
        add = await client.post("/app/calculator/add", json={"a": 10, "b": 5}, headers=KEY)
        assert add.json() == {"status": "ok", "result": 15}
        divide = await client.post("/app/calculator/divide", json={"a": 100, "b": 4}, headers=KEY)
        assert divide.json() == {"status": "ok", "result": 25}
        stats = (await client.post("/app/calculator/stats", headers=KEY)).json()
        assert stats["status"] == "ok"
        assert stats["operations_count"] == stats["cached_operations"] == 2
        history = (await client.post("/app/calculator/history", json={"limit": 5}, headers=KEY)).json()
        assert [h["operation"] for h in history["history"]] == ["divide", "add"]
        by_zero = (await client.post("/app/calculator/divide", json={"a": 1, "b": 0}, headers=KEY)).json()
        assert by_zero == {"status": "error", "message": "Cannot divide by zero", "code": "divide_by_zero"}
        failed = (await client.post("/app/calculator/add", json={"a": "x", "b": 1}, headers=KEY)).json()
        assert failed["status"] == "error"
        assert failed["code"] == "calculation_error"
    assert "Total operations: 2" in capsys.readouterr().out  # on_unload ran at shutdown
