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

The settings are in :mod:`.settings`, the clients and the service in :mod:`.service`; importing this
package imports only the settings, redis-py loads with the first Redis database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from xcore._hookspecs import hookimpl
from xcore._services import ServiceSetup, ServiceType

from .settings import RedisSettings

if TYPE_CHECKING:
    from .service import RedisDatabase
else:
    from xcore._builtin_services.lazy_exports import lazy_exports

    __getattr__ = lazy_exports(__name__, {"RedisDatabase": ".service"})


def build(settings: RedisSettings, setup: ServiceSetup) -> RedisDatabase:
    from .service import RedisDatabase

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


__all__ = ["RedisDatabase", "RedisSettings", "build", "xcore_register_service"]
