"""Cached user profiles (spec: "Cache Service"), built on the users plugin's actions.

Shows three things:

* **plugin-to-plugin calls and ordering**: ``requires = ("users",)`` makes the users plugin load
  first (and fails this one, naming it, if users is missing); data comes from
  ``await self.ctx.call("users", "get_user", ...)``, never from the users table directly;
* **get_or_set**: a profile is fetched once, then served from the cache for ten minutes;
* **invalidation**: ``POST /profiles/{id}/refresh`` drops one profile, and the ``users.created``
  event drops every cached page and the cached count (``delete_pattern("users:page:*")``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from xcore.sdk import TrustedBase

PAGE_SIZE = 10
PROFILE_TTL = 600
PAGE_TTL = 60
COUNT_TTL = 30


class UserMissing(LookupError):
    """The users plugin has no such user: nothing is cached."""


class Plugin(TrustedBase):
    """Routes ``/profiles/{id}``, ``/profiles/{id}/refresh``, ``/pages/{n}``, ``/stats``, ``/cache/clear``."""

    requires = ("users",)

    async def on_load(self) -> None:
        self.cache = self.get_service("cache")
        if self.ctx.events is not None:
            self.ctx.events.on("users.created", self._user_created)

    async def _user_created(self, event: Any) -> None:
        """A new user changes every page and the count: drop them; single profiles stay valid."""
        await self.cache.delete("users:count")
        await self.cache.delete_pattern("users:page:*")

    async def _users(self, action_name: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Call the users plugin; an error answer becomes an exception so nothing gets cached."""
        answer = await self.ctx.call("users", action_name, payload)
        if answer["status"] == "error":
            if answer.get("code") == "not_found":
                raise UserMissing(answer["message"])
            raise RuntimeError(f"users.{action_name} failed: {answer['message']}")
        return answer

    async def profile(self, user_id: int) -> dict[str, Any]:
        """The user, from the cache or (once per ``PROFILE_TTL``) from the users plugin."""

        async def fetch() -> dict[str, Any]:
            user: dict[str, Any] = (await self._users("get_user", {"user_id": user_id}))["user"]
            return user

        user: dict[str, Any] = await self.cache.get_or_set(f"user:{user_id}", factory=fetch, ttl=PROFILE_TTL)
        return user

    def get_router(self) -> APIRouter:
        router = APIRouter()

        @router.get("/profiles/{user_id}")
        async def get_profile(user_id: int) -> dict[str, Any]:
            cached = await self.cache.exists(f"user:{user_id}")
            try:
                user = await self.profile(user_id)
            except UserMissing:
                raise HTTPException(404, f"no user with id {user_id}") from None
            return {"user": user, "cached": cached}

        @router.post("/profiles/{user_id}/refresh")
        async def refresh(user_id: int) -> dict[str, Any]:
            removed = await self.cache.delete(f"user:{user_id}")
            return {"invalidated": removed}

        @router.get("/pages/{page}")
        async def page(page: int) -> dict[str, Any]:
            if page < 0:
                raise HTTPException(422, "page must be 0 or more")
            key = f"users:page:{page}"
            cached = await self.cache.exists(key)

            async def fetch() -> list[dict[str, Any]]:
                answer = await self._users("list_users", {"limit": PAGE_SIZE, "offset": page * PAGE_SIZE})
                users: list[dict[str, Any]] = answer["users"]
                return users

            users = await self.cache.get_or_set(key, factory=fetch, ttl=PAGE_TTL)
            return {"page": page, "users": users, "cached": cached}

        @router.get("/stats")
        async def stats() -> dict[str, Any]:
            """The spec's basic pattern: try the cache, else compute and store."""
            count = await self.cache.get("users:count")
            if count is not None:
                return {"users": count, "cached": True}
            count = (await self._users("count", {}))["count"]
            await self.cache.set("users:count", count, ttl=COUNT_TTL)
            return {"users": count, "cached": False}

        @router.post("/cache/clear")
        async def clear() -> dict[str, Any]:
            return {"cleared": await self.cache.clear()}

        return router
