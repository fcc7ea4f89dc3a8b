"""A well-behaved plugin: the same TrustedBase code runs trusted and sandboxed."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from xcore.sdk import TrustedBase, action, ok


class Item(BaseModel):
    name: str
    size: int = 1


class Echo(TrustedBase):
    permissions = ["cache", {"db": {"name": "default", "mode": "write"}}]

    async def on_load(self) -> None:
        self.loaded_pid = os.getpid()

    @action()
    async def echo(self, payload: dict[str, Any]) -> dict[str, Any]:
        return ok(echo=payload)

    @action()
    async def pid(self, payload: dict[str, Any]) -> dict[str, Any]:
        return ok(pid=os.getpid(), uid=os.getuid())

    @action()
    async def sleep(self, payload: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(float(payload.get("seconds", 1)))
        return ok(slept=payload.get("seconds"))

    @action()
    async def env(self, payload: dict[str, Any]) -> dict[str, Any]:
        return ok(env=dict(os.environ), cwd=os.getcwd())

    @action()
    async def remember(self, payload: dict[str, Any]) -> dict[str, Any]:
        cache = self.get_service("cache")
        await cache.set("remembered", payload.get("value"))
        return ok(value=await cache.get("remembered"))

    @action()
    async def write_own(self, payload: dict[str, Any]) -> dict[str, Any]:
        with open("note.txt", "w") as fh:
            fh.write(str(payload.get("text")))
        with open("note.txt") as fh:
            return ok(text=fh.read())

    def get_router(self) -> APIRouter:
        router = APIRouter()

        @router.get("/hello/{who}")
        async def hello(who: str, times: int = 1) -> dict[str, Any]:
            return {"hello": who, "times": times}

        @router.get("/remembered")
        async def remembered() -> dict[str, Any]:
            return {"value": await self.get_service("cache").get("remembered")}

        @router.post("/items", status_code=201)
        async def create(item: Item) -> dict[str, Any]:
            return {"created": item.name, "size": item.size}

        @router.get("/stream")
        async def stream() -> StreamingResponse:
            async def parts():
                for i in range(3):
                    yield f"part{i}\n".encode()

            return StreamingResponse(parts(), media_type="text/plain", headers={"x-plugin": "echo"})

        return router


class Counter(TrustedBase):
    """Database code written for a trusted plugin, unchanged."""

    @action()
    async def count(self, payload: dict[str, Any]) -> dict[str, Any]:
        async with self.get_service("db").connection() as conn:
            return ok(count=await conn.fetchval("SELECT count(*) FROM sbx_t"))


class Relay(TrustedBase):
    """Calls another plugin's action through ``ctx.call``: the same code trusted and sandboxed."""

    @action()
    async def relay(self, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            answer = await self.ctx.call(payload["plugin"], payload["action"], payload.get("payload"))
        except PermissionError as exc:
            return ok(blocked=True, error=f"PermissionError: {exc}")
        return ok(blocked=False, answer=answer)
