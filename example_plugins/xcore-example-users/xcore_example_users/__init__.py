"""Users on the synchronous SQL database (spec: "Using Synchronous Database").

Routes ``/plugins/users/users`` list and create users; the actions ``get_user``, ``list_users`` and
``count`` serve other plugins (``await self.ctx.call("users", "get_user", {"user_id": 1})``). The
table is created on load, through SQLAlchemy so that one definition works on SQLite and PostgreSQL;
queries are the plain SQL strings the database service accepts. Creating a user emits the event
``users.created``, which the profiles plugin uses to invalidate its cached pages.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table
from sqlalchemy.exc import IntegrityError

from xcore.sdk import TrustedBase, action, error, ok

metadata = MetaData()
users_table = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(80), nullable=False, unique=True),
    Column("email", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True)),
)


class NewUser(BaseModel):
    """What ``POST /users`` accepts; anything else is a 422 naming the field."""

    username: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.-]+$")
    email: str = Field(min_length=3, max_length=200, pattern=r"^[^@\s]+@[^@\s]+$")


def public(row: Any) -> dict[str, Any]:
    """A user row as JSON-ready data (PostgreSQL returns datetimes, SQLite text)."""
    user = dict(row)
    created = user.get("created_at")
    if isinstance(created, datetime):
        user["created_at"] = created.isoformat()
    return user


class Plugin(TrustedBase):
    """Users stored in the ``db`` database."""

    async def on_load(self) -> None:
        self.db = self.get_service("db")
        await asyncio.to_thread(metadata.create_all, self.db.engine)  # idempotent: existing tables are kept

    # ------------------------------------------------------------------ data access

    def _list(self, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        with self.db.session() as session:
            rows = session.execute(
                "SELECT id, username, email, created_at FROM users ORDER BY id LIMIT :limit OFFSET :offset",
                {"limit": limit, "offset": offset},
            ).fetchall()
        return [public(row) for row in rows]

    def _get(self, user_id: int) -> dict[str, Any] | None:
        with self.db.session() as session:
            row = session.execute(
                "SELECT id, username, email, created_at FROM users WHERE id = :id", {"id": user_id}
            ).fetchone()
        return public(row) if row else None

    def _create(self, user: NewUser) -> int:
        with self.db.session() as session:
            result = session.execute(
                "INSERT INTO users (username, email, created_at) VALUES (:username, :email, NOW()) RETURNING id",
                {"username": user.username, "email": user.email},
            )
            user_id = int(result.scalar())
            session.commit()
        return user_id

    def _count(self) -> int:
        with self.db.session() as session:
            return int(session.execute("SELECT COUNT(*) FROM users").scalar())

    # ------------------------------------------------------------------ HTTP

    def get_router(self) -> APIRouter:
        router = APIRouter()

        @router.get("/users")
        def list_users(limit: int = 100, offset: int = 0) -> dict[str, Any]:
            """Users in creation order (sync route: FastAPI runs it in a thread)."""
            return {"users": self._list(limit, offset)}

        @router.get("/users/{user_id}")
        def get_user(user_id: int) -> dict[str, Any]:
            """One user, or 404."""
            user = self._get(user_id)
            if user is None:
                raise HTTPException(404, f"no user with id {user_id}")
            return user

        @router.post("/users", status_code=201)
        async def create_user(user: NewUser) -> dict[str, Any]:
            """Create a user; a taken username is a 409 and nothing is written."""
            try:
                user_id = await asyncio.to_thread(self._create, user)
            except IntegrityError:
                raise HTTPException(409, f"username {user.username!r} is taken") from None
            if self.ctx.events is not None:
                await self.ctx.events.emit("users.created", {"id": user_id, "username": user.username})
            return {"id": user_id, "status": "created"}

        return router

    # ------------------------------------------------------------------ actions (other plugins, POST .../actions/...)

    @action("get_user")
    async def get_user_action(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``{"user_id": 1}`` -> ``ok(user=...)``, or ``error(code="not_found")``."""
        user_id = payload.get("user_id")
        try:
            user_id = int(user_id)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return error(f"user_id must be an integer, got {user_id!r}", code="invalid_payload")
        user = await asyncio.to_thread(self._get, user_id)
        if user is None:
            return error("User not found", code="not_found")
        return ok(user=user)

    @action("list_users")
    async def list_users_action(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``{"limit": 10, "offset": 0}`` -> ``ok(users=[...])``."""
        limit, offset = payload.get("limit", 100), payload.get("offset", 0)
        if not all(isinstance(v, int) and v >= 0 for v in (limit, offset)):
            return error("limit and offset must be non-negative integers", code="invalid_payload")
        return ok(users=await asyncio.to_thread(self._list, limit, offset))

    @action("count")
    async def count(self, payload: dict[str, Any]) -> dict[str, Any]:
        return ok(count=await asyncio.to_thread(self._count))
