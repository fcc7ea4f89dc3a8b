"""Settings of ``type: sqlasync`` sections."""

from __future__ import annotations

from pydantic import Field

from xcore.builtin_services.sql.settings import SqlSettings


class AsyncSqlSettings(SqlSettings):
    """``type: sqlasync``. ``pool_size`` connections at most for ``connection()`` (asyncpg's default
    of 10); the ORM engine behind ``session()`` has its own pool sized by ``pool_size`` and
    ``max_overflow``."""

    pool_size: int = Field(10, ge=1)
