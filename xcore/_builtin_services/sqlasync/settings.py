"""Settings of ``type: sqlasync`` sections."""

from __future__ import annotations

from pydantic import Field, field_validator

from xcore._builtin_services.sql.settings import SqlSettings

from .backends import SERVED, backend_for


class AsyncSqlSettings(SqlSettings):
    """``type: sqlasync``. ``pool_size`` connections at most for ``connection()`` (asyncpg's default
    of 10); the ORM engine behind ``session()`` has its own pool sized by ``pool_size`` and
    ``max_overflow``."""

    pool_size: int = Field(10, ge=1)

    @field_validator("url")
    @classmethod
    def _driver(cls, value: str) -> str:
        """A URL this service cannot serve fails validation, so ``xcore config check`` rejects it as boot does."""
        from sqlalchemy.engine import make_url

        try:
            drivername = make_url(value.strip()).drivername
        except Exception:
            return value  # not a URL at all: the base model's check has the message
        if backend_for(drivername) is None:
            raise ValueError(f"unknown database driver {drivername!r} for type sqlasync; {SERVED}")
        return value
