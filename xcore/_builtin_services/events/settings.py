"""``services.events`` settings, one model per backend."""

from __future__ import annotations

from typing import Any

from pydantic import Field, ModelWrapValidatorHandler, ValidationInfo, field_validator, model_validator

from xcore._builtin_services.service_urls import RedisUrl, url_or_configured_redis
from xcore._events.bus import DEFAULT_TIMEOUT
from xcore._services import ServiceSettings


class MemoryEventsSettings(ServiceSettings):
    """``backend: memory``: events stay in this process."""

    handler_timeout: float = Field(DEFAULT_TIMEOUT, gt=0, description="seconds a coroutine handler may run")


class RedisEventsSettings(MemoryEventsSettings):
    """``backend: redis``: events are also published to every process on the same channel.

    Without ``url``, the Redis the configuration already names (the cache's, else the first
    ``type: redis`` database), as for the scheduler.
    """

    url: RedisUrl
    channel: str | None = Field(None, description="default: <app.name>:events:bus")
    max_pending: int = Field(10_000, gt=0, description="events queued for publishing before new ones are dropped")

    @model_validator(mode="wrap")
    @classmethod
    def _configured_redis(cls, data: Any, handler: ModelWrapValidatorHandler[Any], info: ValidationInfo) -> Any:
        return url_or_configured_redis(data, handler, info, "services.events")

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty (leave it out for <app.name>:events:bus)")
        return value
