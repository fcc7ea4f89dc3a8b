"""Users on the asynchronous SQL database (spec: "Using Asynchronous Database").

The database is the one named ``async_default`` (``type: sqlasync``); ``connection()`` lends a
connection with asyncpg's API (``fetch``, ``fetchrow``, ``$1`` placeholders) on PostgreSQL and on
SQLite alike. The table is created on load with the DDL of the backend in use.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from xcore.sdk import TrustedBase

DATABASE = "async_default"

SCHEMA = {
    "sqlite": """CREATE TABLE IF NOT EXISTS users (
        id INTEGER PRIMARY KEY AUTOINCREMENT, username VARCHAR(80) NOT NULL UNIQUE,
        email VARCHAR(200) NOT NULL, created_at TIMESTAMP)""",
    "postgresql": """CREATE TABLE IF NOT EXISTS users (
        id SERIAL PRIMARY KEY, username VARCHAR(80) NOT NULL UNIQUE,
        email VARCHAR(200) NOT NULL, created_at TIMESTAMPTZ)""",
}


class NewUser(BaseModel):
    username: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.-]+$")
    email: str = Field(min_length=3, max_length=200, pattern=r"^[^@\s]+@[^@\s]+$")


def is_unique_violation(exc: BaseException) -> bool:
    """A duplicate key, as SQLite (``sqlite3.IntegrityError``) or asyncpg reports it."""
    return isinstance(exc, sqlite3.IntegrityError) or type(exc).__name__ == "UniqueViolationError"


def public(record: Any) -> dict[str, Any]:
    user = dict(record)
    if isinstance(user.get("created_at"), datetime):
        user["created_at"] = user["created_at"].isoformat()
    return user


class Plugin(TrustedBase):
    """Users stored in the ``async_default`` database, with async routes only."""

    async def on_load(self) -> None:
        self.db = self.get_service(DATABASE)
        async with self.db.connection() as conn:
            await conn.execute(SCHEMA[self.db.backend])

    def get_router(self) -> APIRouter:
        router = APIRouter()

        @router.get("/users")
        async def list_users() -> dict[str, Any]:
            async with self.db.connection() as conn:
                rows = await conn.fetch("SELECT id, username, email FROM users ORDER BY id")
            return {"users": [dict(row) for row in rows]}

        @router.get("/users/{user_id}")
        async def get_user(user_id: int) -> dict[str, Any]:
            async with self.db.connection() as conn:
                row = await conn.fetchrow("SELECT * FROM users WHERE id = $1", user_id)
            if row is None:
                raise HTTPException(404, "User not found")
            return public(row)

        @router.post("/users", status_code=201)
        async def create_user(user: NewUser) -> dict[str, Any]:
            try:
                async with self.db.connection() as conn:
                    row = await conn.fetchrow(
                        "INSERT INTO users (username, email, created_at) VALUES ($1, $2, NOW()) RETURNING id",
                        user.username,
                        user.email,
                    )
            except Exception as exc:
                if is_unique_violation(exc):
                    raise HTTPException(409, f"username {user.username!r} is taken") from None
                raise
            return {"id": row["id"], "status": "created"}

        return router
