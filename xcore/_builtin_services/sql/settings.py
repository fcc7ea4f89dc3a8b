"""Settings of the SQL database sections, shared by the sync (``sql``) and async (``sqlasync``) services."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from xcore._config.models import EMBEDDED_DATA_DIR
from xcore._services import ServiceSettings

DEFAULT_SQLITE_URL = f"sqlite:///{EMBEDDED_DATA_DIR}/xcore.db"


class SqlSettings(ServiceSettings):
    """Settings of a SQL database section.

    ``pool_size`` connections are kept open, ``max_overflow`` more may be opened under load;
    ``pool_timeout`` bounds the wait for a free one and ``connect_timeout`` the wait for the server.
    ``migrate`` is what boot does with the plugins' migrations on this database (``xcore.migrations``):
    ``check`` refuses a plugin whose database is behind its code, ``upgrade`` applies them, ``off`` neither.
    """

    url: str
    pool_size: int = Field(5, ge=1)
    max_overflow: int = Field(10, ge=0)
    echo: bool = False
    pool_timeout: float = Field(10.0, gt=0)
    connect_timeout: float = Field(5.0, gt=0)
    migrate: Literal["check", "upgrade", "off"] = "check"

    @field_validator("url")
    @classmethod
    def _parses(cls, value: str) -> str:
        """An empty or unparsable URL fails validation, so ``xcore config check`` rejects it as boot does."""
        from sqlalchemy.engine import make_url

        if not value or not value.strip():
            raise ValueError("is empty (is the environment variable it uses set?)")
        try:
            make_url(value.strip())
        except Exception:
            raise ValueError(
                "is not a database URL (expected e.g. postgresql://user:password@host:5432/name or "
                "sqlite:///path/to/file.db)"
            ) from None
        return value

    @field_validator("url")
    @classmethod
    def _driver(cls, value: str) -> str:
        """The URL's driver must exist, be synchronous and be installed: checked here, as the engine
        would at boot, so that ``xcore config check`` rejects what boot rejects. (``sqlasync``
        overrides this check with its own.)"""
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import NoSuchModuleError

        from .urls import sync_url

        url = sync_url(make_url(value.strip()))
        try:
            dialect = url.get_dialect()
        except NoSuchModuleError:
            raise ValueError(
                f"unknown database driver {url.drivername!r} (e.g. postgresql://, postgresql+psycopg://, "
                "sqlite:///file.db, mysql+pymysql://)"
            ) from None
        if dialect.is_async:
            raise ValueError(
                f"{url.drivername!r} is an async driver; use it with `type: sqlasync`, or give this section a sync URL"
            )
        try:
            dialect.import_dbapi()
        except ImportError as exc:
            raise ValueError(
                f"the driver for {url.drivername!r} is not installed ({exc}); install its package or name an "
                "installed driver in the URL"
            ) from None
        return value


class SqliteSettings(SqlSettings):
    """``type: sqlite``: the URL defaults to the embedded database ``./.xcore/xcore.db``."""

    url: str = DEFAULT_SQLITE_URL
