"""The errors of an unreachable SQL database, shared by the sync and async services."""

from __future__ import annotations

import sqlalchemy.exc
from sqlalchemy.engine import URL

from xcore._builtin_services.service_urls import mask_url_text
from xcore._errors import ServiceError

from .urls import shown


class DatabaseUnavailable(ServiceError, ConnectionError):
    """The database server cannot be reached (refused, timed out, connection lost, pool exhausted).

    The message names the database's config key and its URL with the password masked. Being a
    ``ConnectionError``, it is caught by ``except ConnectionError`` / ``except OSError`` as well.
    """


class PoolExhausted(DatabaseUnavailable, TimeoutError, sqlalchemy.exc.TimeoutError):
    """Every pooled connection stayed in use for ``pool_timeout`` seconds.

    Also the ``TimeoutError`` that asyncpg's ``pool.acquire(timeout=...)`` raises and SQLAlchemy's
    ``TimeoutError``, so code written against either library keeps catching it.
    """


def unavailable(key_path: str, url: URL, exc: BaseException, what: str = "cannot connect to") -> DatabaseUnavailable:
    """The error for a server that cannot be reached, one line, naming the key, password masked."""
    detail = " ".join(str(exc).split()) or type(exc).__name__
    detail = mask_url_text(detail, url.password if isinstance(url.password, str) else None)
    return DatabaseUnavailable(f"{key_path}: {what} {shown(url)}: {detail}")
