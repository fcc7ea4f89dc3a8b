# Source: traoreera/xcore docs/guides/security.md @ b9e5bcb, "Secure Plugin Development / 6. Rate Limiting"
# (the page uses ok and error without importing them; they are added to its import line)
from xcore.sdk import TrustedBase, ok, error
import time


class Plugin(TrustedBase):

    async def on_load(self) -> None:
        self.cache = self.get_service("cache")

    async def handle(self, action: str, payload: dict) -> dict:
        user_id = payload.get("user_id")
        key = f"rate_limit:{user_id}:{action}"

        # Check custom rate limit
        current = await self.cache.get(key) or 0
        if current >= 10:  # 10 per minute per user
            return error("Rate limit exceeded", code="rate_limit")

        # Increment counter
        await self.cache.set(key, current + 1, ttl=60)

        # Process action
        return ok()
