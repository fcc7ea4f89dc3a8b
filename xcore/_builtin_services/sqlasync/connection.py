"""What ``connection()`` yields on every backend (asyncpg's API), and the error both pools raise
when every connection stays in use."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from sqlalchemy.engine import URL

from xcore._builtin_services.sql.errors import PoolExhausted
from xcore._builtin_services.sql.urls import shown


class AsyncConnection(Protocol):
    """What ``connection()`` yields on every backend: the part of asyncpg's API plugins use."""

    async def fetch(self, query: str, *args: Any, timeout: float | None = None) -> list[Any]: ...

    async def fetchrow(self, query: str, *args: Any, timeout: float | None = None) -> Any: ...

    async def fetchval(self, query: str, *args: Any, column: int = 0, timeout: float | None = None) -> Any: ...

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str: ...

    async def executemany(
        self, command: str, args: Iterable[Sequence[Any]], *, timeout: float | None = None
    ) -> None: ...

    def transaction(self, *, isolation: str | None = None, readonly: bool = False, deferrable: bool = False) -> Any: ...


def exhausted(key_path: str, url: URL, waited: float, size: int) -> PoolExhausted:
    return PoolExhausted(
        f"{key_path}: no free connection after {waited:g} s (all pool_size={size} in use) at {shown(url)}; "
        "a connection is held too long or the pool is too small"
    )
