"""Redis as a database (``type: redis``): redis-py's client, sync and async, on one set of settings.

The service answers redis-py's synchronous API directly, as the seed's plugins use it::

    redis = self.get_service("redis_db")
    redis.set("user:1", json.dumps(user), ex=3600)
    keys = redis.keys("user:*")           # bytes, as redis-py returns them

Code running on the event loop should prefer ``redis.aio``, a ``redis.asyncio.Redis`` with the same
URL, ``max_connections`` and timeouts (``await redis.aio.get("user:1")``): a synchronous call blocks
the loop for one round trip. ``redis.client`` is the synchronous ``redis.Redis`` itself.

Replies are bytes (``decode_responses: false``) unless configured otherwise. redis-py 8 speaks RESP3
by default; ``protocol: 2`` selects RESP2 for servers or code that need it. Connection failures
raise redis-py's own ``ConnectionError``/``TimeoutError`` with the config key in the message. A lost
connection is reopened and the command retried ``retries`` times, so a restarted server is used
again by the next call; a server that stays down fails fast instead of retrying for seconds.
"""

from __future__ import annotations

import time
from typing import Any, Literal, cast

import redis
import redis.asyncio
from pydantic import Field
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from xcore.errors import ConfigError
from xcore.hookspecs import hookimpl
from xcore.services import ServiceBase, ServiceSettings, ServiceSetup, ServiceType

from .sql import mask_url_text

_CONNECTION_ERRORS = (redis.ConnectionError, redis.TimeoutError)


class RedisSettings(ServiceSettings):
    """``type: redis``. Timeouts are in seconds; both clients share these settings."""

    url: str
    max_connections: int = Field(50, ge=1)
    socket_timeout: float = Field(5.0, gt=0)
    connect_timeout: float = Field(2.0, gt=0)
    retries: int = Field(1, ge=0)
    protocol: Literal[2, 3] | None = None
    decode_responses: bool = False


def _named(exc: redis.RedisError, key_path: str) -> redis.RedisError:
    """``exc``'s type with the config key in front of its message."""
    return type(exc)(f"{key_path}: {exc}")


class KeyedRedis(redis.Redis):
    """``redis.Redis`` whose connection errors name the database's config key."""

    xcore_key_path = "redis"

    def execute_command(self, *args: Any, **options: Any) -> Any:
        try:
            return super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        except _CONNECTION_ERRORS as exc:
            raise _named(exc, self.xcore_key_path) from exc


class KeyedAsyncRedis(redis.asyncio.Redis):
    """``redis.asyncio.Redis`` whose connection errors name the database's config key."""

    xcore_key_path = "redis"

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        try:
            return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        except _CONNECTION_ERRORS as exc:
            raise _named(exc, self.xcore_key_path) from exc


def client_options(settings: RedisSettings) -> dict[str, Any]:
    options: dict[str, Any] = {
        "max_connections": settings.max_connections,
        "socket_timeout": settings.socket_timeout,
        "socket_connect_timeout": settings.connect_timeout,
        "decode_responses": settings.decode_responses,
    }
    if settings.protocol is not None:
        options["protocol"] = settings.protocol
    return options


class RedisDatabase(ServiceBase):
    """Redis for plugins: redis-py's synchronous API on the service itself, ``aio`` for async code.

    Any attribute the service does not define (``get``, ``set``, ``keys``, ``pipeline``, ...) is the
    synchronous client's.
    """

    def __init__(self, settings: RedisSettings, setup: ServiceSetup) -> None:
        self.key_path = setup.key_path
        self._settings = settings
        options = client_options(settings)
        backoff = ExponentialBackoff(cap=0.25, base=0.025)
        try:
            self.client = cast(
                KeyedRedis, KeyedRedis.from_url(settings.url, retry=Retry(backoff, settings.retries), **options)
            )
            self.aio = cast(
                KeyedAsyncRedis,
                KeyedAsyncRedis.from_url(settings.url, retry=AsyncRetry(backoff, settings.retries), **options),
            )
        except (ValueError, TypeError) as exc:
            shown = mask_url_text(settings.url)
            raise ConfigError(
                f"{setup.key_path}.url: {shown!r} is not a usable Redis URL ({mask_url_text(str(exc))}); "
                "expected redis://[:password@]host:6379/0, rediss://... or unix:///path/to/socket"
            ) from None
        self.client.xcore_key_path = self.aio.xcore_key_path = setup.key_path
        self.url = mask_url_text(settings.url)

    def __getattr__(self, name: str) -> Any:
        # Only reached for names the service does not define: redis-py's command methods.
        if name in ("client", "aio"):  # not yet set: construction failed
            raise AttributeError(name)
        value = getattr(self.client, name)
        if callable(value):  # kept on the instance: the next call skips this lookup
            self.__dict__[name] = value
        return value

    async def start(self) -> None:
        await self.aio.ping()

    async def health(self) -> dict[str, Any]:
        began = time.perf_counter()
        await self.aio.ping()
        latency = (time.perf_counter() - began) * 1000
        return {"latency_ms": round(latency, 3), "max_connections": self._settings.max_connections}

    async def close(self) -> None:
        try:
            self.client.close()
        finally:
            await self.aio.aclose()

    def __repr__(self) -> str:
        return f"<RedisDatabase {self.key_path} {self.url}>"


def build(settings: RedisSettings, setup: ServiceSetup) -> RedisDatabase:
    return RedisDatabase(settings, setup)


@hookimpl
def xcore_register_service() -> ServiceType:
    return ServiceType(
        "database",
        "redis",
        RedisSettings,
        build,
        "Redis as a database: redis-py's sync API on the service, .aio for the asyncio client",
    )
