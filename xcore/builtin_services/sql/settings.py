"""Settings of the SQL database sections, shared by the sync (``sql``) and async (``sqlasync``) services."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from xcore.config.models import EMBEDDED_DATA_DIR
from xcore.services import ServiceSettings

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


class SqliteSettings(SqlSettings):
    """``type: sqlite``: the URL defaults to the embedded database ``./.xcore/xcore.db``."""

    url: str = DEFAULT_SQLITE_URL
