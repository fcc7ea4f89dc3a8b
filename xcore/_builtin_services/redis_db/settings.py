"""Settings of ``type: redis`` database sections."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from xcore._builtin_services.service_urls import RedisUrl
from xcore._services import ServiceSettings


class RedisSettings(ServiceSettings):
    """``type: redis``. Timeouts are in seconds; both clients share these settings."""

    url: RedisUrl
    max_connections: int = Field(50, ge=1)
    socket_timeout: float = Field(5.0, gt=0)
    connect_timeout: float = Field(2.0, gt=0)
    retries: int = Field(1, ge=0)
    protocol: Literal[2, 3] | None = None
    decode_responses: bool = False
    client: Literal["sync", "async"] = "sync"
    """Which client's commands the service itself answers: ``async`` for code that awaits them
    (``await redis.set(...)``, as the original XCore's async examples do); the other stays on
    ``.client`` / ``.aio``."""
