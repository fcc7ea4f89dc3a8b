"""The ``type: redis`` service: redis-py's sync and async clients on one set of settings, their
connection errors naming the config key."""

from __future__ import annotations

import time
from typing import Any, cast

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from xcore._builtin_services.service_urls import mask_url_text
from xcore._errors import ConfigError
from xcore._services import ServiceBase, ServiceSetup

from .settings import RedisSettings

_CONNECTION_ERRORS = (redis.ConnectionError, redis.TimeoutError)


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
    synchronous client's, or with ``client: async`` the async client's (``await redis.set(...)``).
    A command cannot be both: its result (``True``, ``None``, bytes) is either awaited or used.

    It is a raw client: its commands reach every key of the Redis database its URL names, so it
    gives no isolation by itself. XCore's own Redis-backed services keep out of its way (each stays
    in its namespace, ``<app>:cache:`` and so on); for the plugin's keys to be out of *their* way, keep
    them under :attr:`namespace` with :meth:`key` (``<app>:<name>:``, which no other service uses), or
    point the database at a Redis database of its own (``redis://host:6379/1``).
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
        self.namespace = setup.namespace
        """``<app>:<name>:``: the prefix of this database's own keys, which no XCore service writes under."""

    def key(self, name: str) -> str:
        """``name`` inside this database's namespace: ``redis.set(redis.key("user:1"), ...)``."""
        return self.namespace + name

    def __getattr__(self, name: str) -> Any:
        # Only reached for names the service does not define: redis-py's command methods.
        if name in ("client", "aio"):  # not yet set: construction failed
            raise AttributeError(name)
        value = getattr(self.aio if self._settings.client == "async" else self.client, name)
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
