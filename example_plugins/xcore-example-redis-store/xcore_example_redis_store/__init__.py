"""A JSON store on Redis (spec: "Using Redis as Database"), that says so when Redis is not configured.

The ``redis_db`` service is a Redis client (``type: redis`` under ``services.databases``). Redis is
not part of the embedded defaults, so this plugin still loads without it: every action then answers
``error(code="service_unavailable")`` explaining what to configure, and its health says
"not configured" (the spec's best practice: catch the ``KeyError`` of a missing service).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import redis
from fastapi import APIRouter, HTTPException

from xcore.sdk import TrustedBase, action, error, ok

SERVICE = "redis_db"
NOT_CONFIGURED = (
    f"the {SERVICE} service is not configured: add services.databases.{SERVICE} "
    "with type: redis and url: redis://... to integration.yaml"
)


class Plugin(TrustedBase):
    """Actions ``set_json``, ``get_json``, ``delete``, ``list_keys``; route ``GET /items/{key}``."""

    async def on_load(self) -> None:
        try:
            self.redis: Any = self.get_service(SERVICE)
        except KeyError:
            self.redis = None
            self.ctx.logger.warning("%s; the redis_store actions will answer service_unavailable", NOT_CONFIGURED)

    async def health(self) -> dict[str, Any] | None:
        return {"redis_db": "not configured"} if self.redis is None else None

    async def _run(self, command: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a blocking Redis call off the event loop."""
        return await asyncio.to_thread(command, *args, **kwargs)

    async def handle(self, action_name: str, payload: dict[str, Any]) -> dict[str, Any]:
        if self.redis is None:
            return error(NOT_CONFIGURED, code="service_unavailable")
        try:
            return await super().handle(action_name, payload)
        except redis.ConnectionError as exc:
            return error(f"Redis is unreachable: {exc}", code="service_unavailable")

    @action("set_json")
    async def set_json(self, payload: dict[str, Any]) -> dict[str, Any]:
        key, ttl = payload.get("key"), payload.get("ttl", 3600)
        if not isinstance(key, str) or not key:
            return error("key must be a non-empty string", code="invalid_payload")
        if "value" not in payload:
            return error("value is required", code="invalid_payload")
        if not isinstance(ttl, int) or isinstance(ttl, bool) or ttl <= 0:
            return error("ttl must be a positive number of seconds", code="invalid_payload")
        await self._run(self.redis.set, key, json.dumps(payload["value"]), ex=ttl)
        return ok(message="Data stored")

    @action("get_json")
    async def get_json(self, payload: dict[str, Any]) -> dict[str, Any]:
        data = await self._run(self.redis.get, str(payload.get("key", "")))
        if data is None:
            return error("Key not found", code="not_found")
        return ok(value=json.loads(data))

    @action("delete")
    async def delete(self, payload: dict[str, Any]) -> dict[str, Any]:
        removed = await self._run(self.redis.delete, str(payload.get("key", "")))
        return ok(message="Key deleted" if removed else "No such key", deleted=bool(removed))

    @action("list_keys")
    async def list_keys(self, payload: dict[str, Any]) -> dict[str, Any]:
        keys = await self._run(self.redis.keys, payload.get("pattern", "*"))
        return ok(keys=sorted(k.decode() if isinstance(k, bytes) else k for k in keys))

    def get_router(self) -> APIRouter:
        router = APIRouter()

        @router.get("/items/{key}")
        async def read(key: str) -> Any:
            answer = await self.handle("get_json", {"key": key})
            if answer["status"] == "ok":
                return answer["value"]
            raise HTTPException(503 if answer["code"] == "service_unavailable" else 404, answer["message"])

        return router
