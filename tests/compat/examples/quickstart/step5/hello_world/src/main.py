# Source: traoreera/xcore doc/getting-started/quickstart.md @ 0a007ab, "Step 5: Use Services"
from fastapi import APIRouter
from xcore.sdk import TrustedBase, ok
import time


class Plugin(TrustedBase):

    async def on_load(self) -> None:
        # Get cache service
        self.cache = self.get_service("cache")
        print("✅ Hello World plugin loaded with cache access!")

    def get_router(self) -> APIRouter:
        router = APIRouter(prefix="/hello", tags=["hello"])

        @router.get("/cached-time")
        async def cached_time():
            """Returns cached current time."""
            # Try to get from cache
            cached = await self.cache.get("current_time")
            if cached:
                return {"time": cached, "cached": True}

            # Compute and cache
            current = time.strftime("%Y-%m-%d %H:%M:%S")
            await self.cache.set("current_time", current, ttl=60)
            return {"time": current, "cached": False}

        return router

    async def handle(self, action: str, payload: dict) -> dict:
        if action == "cache_test":
            await self.cache.set("test_key", "test_value", ttl=300)
            value = await self.cache.get("test_key")
            return ok(cached_value=value)
        return ok()
