"""SQLAlchemy engines for the SQL services: pool options from the settings, connection errors that
name the config key, ``NOW()`` and WAL journaling on SQLite.

The async service's ORM engine reuses :func:`engine_options`, :func:`name_connection_errors` and
:func:`prepare_sqlite` on its ``sync_engine``.
"""

from __future__ import annotations

import math
from typing import Any

import sqlalchemy.exc
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, ExceptionContext
from sqlalchemy.exc import NoSuchModuleError
from sqlalchemy.pool import QueuePool, StaticPool

from xcore._builtin_services.service_urls import mask_url_text
from xcore._errors import ConfigError

from .errors import PoolExhausted, unavailable
from .settings import SqlSettings
from .text import register_sqlite_now
from .urls import is_sqlite_memory, shown


def name_connection_errors(engine: Engine, key_path: str, url: URL) -> None:
    """Turn connect failures and lost connections of ``engine`` into ``DatabaseUnavailable``.

    SQL errors (syntax, constraints) keep their SQLAlchemy type; a failed pre-ping is left to the
    pool, which then opens a fresh connection.
    """

    @event.listens_for(engine, "handle_error")
    def _on_error(ctx: ExceptionContext) -> BaseException | None:
        if ctx.is_pre_ping:
            return None
        if ctx.connection is None:
            return unavailable(key_path, url, ctx.original_exception)
        if ctx.is_disconnect:
            return unavailable(key_path, url, ctx.original_exception, "lost the connection to")
        return None


def _driver_error(key_path: str, url: URL, exc: BaseException) -> ConfigError:
    if isinstance(exc, NoSuchModuleError):
        return ConfigError(
            f"{key_path}.url: unknown database driver {url.drivername!r} in {shown(url)} "
            "(e.g. postgresql://, postgresql+psycopg://, sqlite:///file.db, mysql+pymysql://)"
        )
    if isinstance(exc, ImportError):
        return ConfigError(
            f"{key_path}.url: the driver for {url.drivername!r} is not installed ({exc}); "
            "install its package or name an installed driver in the URL"
        )
    return ConfigError(f"{key_path}: cannot create a database engine for {shown(url)}: {mask_url_text(str(exc))}")


def keyed_pool(base: type[QueuePool], message: str) -> type[QueuePool]:
    """``base`` whose checkout timeout raises :class:`PoolExhausted` with ``message``.

    A class of its own per engine (not an attribute on the pool instance), because ``dispose()``
    replaces the pool by a new instance of the same class.
    """

    def connect(self: QueuePool) -> Any:
        try:
            return base.connect(self)
        except sqlalchemy.exc.TimeoutError as exc:
            raise PoolExhausted(message) from exc

    return type(f"Keyed{base.__name__}", (base,), {"connect": connect, "__module__": __name__})


def engine_options(url: URL, settings: SqlSettings, key_path: str, pool: type[QueuePool] = QueuePool) -> dict[str, Any]:
    """``create_engine`` options honouring the settings; shared with the async ORM engine, which
    passes its own ``pool`` class."""
    options: dict[str, Any] = {"echo": settings.echo, "pool_pre_ping": True}
    backend = url.get_backend_name()
    if backend == "sqlite" and is_sqlite_memory(url):
        # One shared connection: otherwise every pooled connection would be its own empty database.
        options.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
        return options
    exhausted = (
        f"{key_path}: no free connection after {settings.pool_timeout:g} s (all pool_size={settings.pool_size} "
        f"+ max_overflow={settings.max_overflow} in use) at {shown(url)}; a session is held too long or the "
        "pool is too small"
    )
    options.update(
        poolclass=keyed_pool(pool, exhausted),
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout,
    )
    seconds = max(1, math.ceil(settings.connect_timeout))
    if backend == "postgresql":
        driver = url.get_driver_name()
        options["connect_args"] = (
            {"timeout": settings.connect_timeout} if driver == "asyncpg" else {"connect_timeout": seconds}
        )
    elif backend in ("mysql", "mariadb"):
        options["connect_args"] = {"connect_timeout": seconds}
    return options


def prepare_sqlite(engine: Engine, url: URL) -> None:
    """Add ``NOW()`` to every SQLite connection and use WAL journaling on files (readers stop
    blocking the writer, which matters once several pooled connections share one file)."""
    file_backed = not is_sqlite_memory(url)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        register_sqlite_now(dbapi_connection)
        if file_backed:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("PRAGMA journal_mode=WAL")
            finally:
                cursor.close()


def build_engine(url: URL, settings: SqlSettings, key_path: str) -> Engine:
    """A sync engine for ``url``; a ``ConfigError`` naming ``key_path`` if the driver is unknown."""
    try:
        if url.get_dialect().is_async:
            raise ConfigError(
                f"{key_path}.url: {url.drivername!r} is an async driver; use it with `type: sqlasync`, "
                "or give this section a sync URL"
            )
        engine = create_engine(url, **engine_options(url, settings, key_path))
    except ConfigError:
        raise
    except Exception as exc:
        raise _driver_error(key_path, url, exc) from None
    name_connection_errors(engine, key_path, url)
    if url.get_backend_name() == "sqlite":
        prepare_sqlite(engine, url)
    return engine
