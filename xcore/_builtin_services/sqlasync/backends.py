"""Which implementation of ``type: sqlasync`` serves a URL, judged by its driver name alone.

Kept free of drivers and pools: the settings model uses it to reject, at validation (so in
``xcore config check`` as at boot), a URL the service cannot serve.
"""

from __future__ import annotations

from typing import Literal

Backend = Literal["postgresql", "sqlite"]

_POSTGRES_DRIVERS = {None, "asyncpg", "psycopg", "psycopg_async"}
_SQLITE_DRIVERS = {None, "aiosqlite", "pysqlite"}

SERVED = "sqlasync serves postgresql:// (asyncpg) and sqlite:// (aiosqlite) URLs"


def backend_for(drivername: str) -> Backend | None:
    """``postgresql`` or ``sqlite`` for a SQLAlchemy driver name (``postgresql+asyncpg``), else ``None``."""
    name = drivername.split("+", 1)
    driver = name[1] if len(name) > 1 else None
    if name[0] in ("postgresql", "postgres") and driver in _POSTGRES_DRIVERS:
        return "postgresql"
    if name[0] == "sqlite" and driver in _SQLITE_DRIVERS:
        return "sqlite"
    return None
