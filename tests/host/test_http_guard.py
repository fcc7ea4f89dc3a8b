"""In process: the body limit, the key before the body, bounded 422s, JSON 500s and their log (see
``test_served_limits.py`` for the same against a real server)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import APIRouter, Request
from pydantic import BaseModel

from xcore._error_log import RepeatedErrors
from xcore._errors import ConfigError
from xcore._host.facade import Xcore
from xcore._http_guard import RERAISE, HostGuard
from xcore._validation_errors import EXCERPT_CHARS, MAX_ERRORS, excerpt
from xcore.sdk import TrustedBase, action, ok

from .support import config
from .test_http import client

RAN: list[str] = []


class Order(BaseModel):
    quantity: int
    tags: list[int] = []


class Web(TrustedBase):
    def get_router(self) -> APIRouter:
        router = APIRouter()

        @router.post("/size")
        async def size(request: Request) -> dict[str, Any]:
            RAN.append("size")
            return {"size": len(await request.body())}

        @router.post("/stream")
        async def stream(request: Request) -> dict[str, Any]:
            total = 0
            async for chunk in request.stream():
                total += len(chunk)
            return {"size": total}

        @router.post("/orders")
        async def orders(order: Order) -> dict[str, Any]:
            return {"quantity": order.quantity}

        @router.post("/small", max_body_size=100)
        async def small(request: Request) -> dict[str, Any]:
            return {"size": len(await request.body())}

        @router.get("/boom")
        async def boom() -> None:
            raise RuntimeError("the secret is hunter2")

        return router

    @action()
    async def echo(self, payload: dict[str, Any]) -> dict[str, Any]:
        return ok(payload=payload)


async def chunks(parts: list[bytes], read: list[int]) -> AsyncIterator[bytes]:
    for part in parts:
        read.append(len(part))
        yield part


async def test_a_declared_length_over_the_limit_is_refused_before_the_route_runs() -> None:
    RAN.clear()
    async with client({"web": Web}, app={"max_body_size": 1000}) as http:
        refused = await http.post("/plugins/web/size", content=b"x" * 1001)
        assert refused.status_code == 413 and refused.headers["connection"] == "close"
        assert refused.json() == {"detail": "request body larger than 1000 bytes (app.max_body_size)"}
        assert RAN == []
        assert (await http.post("/plugins/web/size", content=b"x" * 1000)).json() == {"size": 1000}


@pytest.mark.parametrize("route", ["/plugins/web/size", "/plugins/web/stream", "/plugins/web/orders"])
async def test_a_chunked_body_is_cut_at_the_limit(route: str) -> None:
    read: list[int] = []
    async with client({"web": Web}, app={"max_body_size": 1000}) as http:
        refused = await http.post(route, content=chunks([b"1" * 600] * 10, read))
        assert refused.status_code == 413 and refused.headers["connection"] == "close"
        assert "app.max_body_size" in refused.json()["detail"]
        assert sum(read) <= 1200, "the body was read past the limit"
        fine = await http.post("/plugins/web/stream", content=chunks([b"1" * 500] * 2, []))
        assert fine.json() == {"size": 1000}


async def test_a_route_may_lower_the_limit_with_fastapi_s_own_parameter() -> None:
    async with client({"web": Web}, app={"max_body_size": 1000}) as http:
        assert (await http.post("/plugins/web/small", content=b"x" * 100)).json() == {"size": 100}
        assert (await http.post("/plugins/web/small", content=b"x" * 101)).status_code == 413
        assert (await http.post("/plugins/web/small", content=chunks([b"x" * 60] * 2, []))).status_code == 413
        assert (await http.post("/plugins/web/size", content=b"x" * 101)).json() == {"size": 101}


async def test_the_action_endpoint_checks_the_key_before_reading_the_body() -> None:
    read: list[int] = []
    async with client({"web": Web}, app={"api_key": "k"}) as http:
        refused = await http.post("/plugins/web/actions/echo", content=chunks([b'{"a": 1}'], read))
        assert refused.status_code == 401 and read == []
        accepted = await http.post(
            "/plugins/web/actions/echo", content=chunks([b'{"a": ', b"1}"], read), headers={"X-API-Key": "k"}
        )
        assert accepted.json() == {"status": "ok", "payload": {"a": 1}} and read == [6, 2]
        empty = await http.post("/plugins/web/actions/echo", headers={"X-API-Key": "k"})
        assert empty.json() == {"status": "ok", "payload": {}}
        spec = (await http.get("/openapi.json")).json()["paths"]["/plugins/{plugin}/actions/{action}"]["post"]
        assert spec["requestBody"]["content"]["application/json"]["schema"]["type"] == "object"


@pytest.mark.parametrize(("body", "kind", "fragment"), [
    (b'{"a": ', "json_invalid", "Expecting value"),
    (b"[" * 100_000 + b"]" * 100_000, "json_invalid", "nested too deeply"),
    (b"\xff\xfe{", "json_invalid", ""),
    (json.dumps(["x" * 5000]).encode(), "dict_type", "Input should be a valid dictionary"),
])  # fmt: skip
async def test_a_bad_action_body_is_a_short_422(body: bytes, kind: str, fragment: str) -> None:
    async with client({"web": Web}, app={"api_key": "k"}) as http:
        answer = await http.post("/plugins/web/actions/echo", content=body, headers={"X-API-Key": "k"})
    assert answer.status_code == 422 and len(answer.content) < 600
    error = answer.json()["detail"][0]
    assert error["type"] == kind and fragment in json.dumps(error)


async def test_validation_errors_show_only_an_excerpt_of_the_input() -> None:
    async with client({"web": Web}) as http:
        huge = await http.post("/plugins/web/orders", json={"quantity": "9" * 500_000 + "x"})
        assert huge.status_code == 422 and len(huge.content) < 1000
        assert huge.json()["detail"][0]["input"] == "9" * EXCERPT_CHARS + "…"
        many = await http.post("/plugins/web/orders", json={"quantity": 1, "tags": ["no"] * 10_000})
        assert many.status_code == 422 and len(many.content) < 5000
        assert len(many.json()["detail"]) == MAX_ERRORS and many.json()["errors_omitted"] == 10_000 - MAX_ERRORS
        small = await http.post("/plugins/web/orders", json={"tags": [1]})
        assert small.json()["detail"][0]["input"] == {"tags": [1]}  # small inputs are shown as they are


def test_excerpts_are_bounded_in_size_and_work() -> None:
    nested: Any = "leaf"
    for _ in range(10_000):
        nested = {"k": [nested, "x" * 100]}
    assert len(excerpt(nested)) <= EXCERPT_CHARS + 1
    assert excerpt(list(range(10**6))).startswith("[0, 1, 2")
    assert excerpt({"a": [1, 2]}) == {"a": [1, 2]} and excerpt(7) == 7 and excerpt(None) is None


async def test_an_unhandled_route_error_is_a_json_500_logged_once_then_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    async with client({"web": Web}, app={"error_log_interval": 0.3}) as http:
        for _ in range(20):
            answer = await http.get("/plugins/web/boom")
            assert (answer.status_code, answer.json()) == (500, {"detail": "Internal Server Error"})
            assert "hunter2" not in answer.text and answer.headers.get("connection") != "close"
        await asyncio.sleep(0.6)
        assert caplog.text.count("Traceback") == 1
        assert caplog.text.count("RuntimeError: the secret is hunter2") == 1  # once, in the log only
        assert "unhandled error in GET /plugins/web/boom (plugin 'web')" in caplog.text
        assert "builtins.RuntimeError at " in caplog.text and ": 19 more times in the last 0." in caplog.text
        await asyncio.sleep(0.4)  # a whole quiet interval: the next one is logged in full again
        await http.get("/plugins/web/boom")
        assert caplog.text.count("Traceback") == 2


async def test_repeated_errors_are_told_apart_by_place_type_and_line(caplog: pytest.LogCaptureFixture) -> None:
    errors = RepeatedErrors(logging.getLogger("test.errors"), interval=60, max_kinds=3)

    def raise_(kind: type[Exception]) -> Exception:
        try:
            raise kind("x")
        except Exception as exc:
            return exc

    for _ in range(3):
        errors.report("a", raise_(ValueError))
        errors.report("a", raise_(KeyError))
        errors.report("b", raise_(ValueError))
    assert caplog.text.count("Traceback") == 3
    errors.report("c", raise_(ValueError))  # a fourth kind: over max_kinds, counted with the others
    errors.report("d", raise_(ValueError))
    assert caplog.text.count("Traceback") == 3 and "more than 3 kinds of unhandled errors" in caplog.text


@pytest.mark.parametrize(
    ("key", "value"),
    [("max_body_size", 0), ("max_body_size", "lots"), ("health_cache_ttl", -1), ("error_log_interval", 0)],
)
def test_bad_limits_are_config_errors_naming_the_key(key: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=f"app.{key}"):
        Xcore(config=config(app={key: value}), discover=False)


# --------------------------------------------------------------------------- HostGuard itself, as pure ASGI


def guarded(app: Any) -> Any:
    """``app`` behind a real HostGuard with a 1000-byte limit, its errors logged to ``test.guard``."""
    errors = RepeatedErrors(logging.getLogger("test.guard"), interval=60)
    return HostGuard(app, max_body_size=1000, errors=errors, plugin_prefix="/plugins")


async def call(app: Any, method: str, headers: list[tuple[bytes, bytes]], **extra: Any) -> list[dict[str, Any]]:
    """One request through ``app``; every message it sent."""
    sent: list[dict[str, Any]] = []
    scope = {"type": "http", "method": method, "path": "/plugins/web/x", "headers": headers, **extra}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


START = {"type": "http.response.start", "status": 200, "headers": []}


async def test_a_request_without_a_body_reaches_the_app_with_the_server_s_own_receive() -> None:
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(receive)
        await send(START)
        await send({"type": "http.response.body", "body": b"ok"})

    sent = await call(guarded(app), "GET", [(b"host", b"x"), (b"accept", b"*/*")])
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert seen[0].__name__ == "receive", "a request without a body needs no counting receive"


@pytest.mark.parametrize("method", ["GET", "DELETE", "POST"])
async def test_any_method_declaring_a_body_over_the_limit_gets_413_before_the_app_runs(method: str) -> None:
    ran: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ran.append("app")

    for headers in (
        [(b"content-length", b"1001")],
        [(b"host", b"x"), (b"content-length", b"5"), (b"content-length", b"1001")],
    ):
        sent = await call(guarded(app), method, headers)
        assert sent[0]["status"] == 413 and (b"connection", b"close") in sent[0]["headers"]
    assert ran == []


async def test_an_error_before_the_response_is_a_json_500_and_after_it_no_second_start(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def early(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("before")

    async def late(scope: Any, receive: Any, send: Any) -> None:
        await send(START)
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        raise RuntimeError("midway")

    for headers in ([], [(b"content-length", b"3")], [(b"transfer-encoding", b"chunked")]):
        sent = await call(guarded(early), "GET", headers)
        assert [(m["type"], m.get("status")) for m in sent] == [
            ("http.response.start", 500),
            ("http.response.body", None),
        ]
        assert sent[1]["body"] == b'{"detail":"Internal Server Error"}'
        sent = await call(guarded(late), "GET", headers)
        assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]  # the server closes it
    assert "RuntimeError: before" in caplog.text and "RuntimeError: midway" in caplog.text
    with pytest.raises(RuntimeError, match="midway"):
        await call(guarded(late), "GET", [], **{RERAISE: True})
