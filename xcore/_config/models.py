"""The shape of ``integration.yaml``, validated with pydantic.

Service sections are validated in two steps: here, only their outline (a mapping with a ``type`` or
``backend`` naming a service type); then, by the host, each section's remaining keys against the
settings model of the type an installed backend registered. That is how a backend published as its
own package brings its own settings without XCore knowing them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from xcore._sandbox.settings import SandboxedPluginConfig


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AppConfig(Strict):
    """``app``: the host itself."""

    name: str = "xcore"
    plugin_prefix: str = "/plugins"
    api_key: SecretStr | None = None
    admin_key: SecretStr | None = None
    """The operator's key (``X-Admin-Key``): the admin API and page (docs/operations.md), never actions."""
    strict: bool = False
    load_timeout: float = Field(default=30.0, gt=0)
    health_timeout: float = Field(default=2.0, gt=0)
    shutdown_timeout: float = Field(default=10.0, gt=0)
    health_interval: float = Field(default=30.0, ge=0)
    health_cache_ttl: float = Field(default=1.0, ge=0)
    """Seconds a ``/health/ready`` result is reused: a flood of probes runs the checks once."""
    max_body_size: int = Field(default=1024 * 1024, gt=0)
    """Bytes a request body may have; larger ones get 413 (``docs/security.md``)."""
    error_log_interval: float = Field(default=10.0, gt=0)
    """Seconds over which repeats of an unhandled error are counted into one log line."""
    log_level: str = "INFO"
    docs: bool = True
    env: str = "production"
    """The deployment's name (``development``, ``staging``...), for plugins: ``ctx.config.env``."""
    secret_key: SecretStr | None = None
    """A secret for plugins to sign with (``ctx.config.app.secret_key``); XCore itself never uses it."""
    metrics: bool = False
    """Serve ``GET /metrics`` in Prometheus format and count requests, actions, jobs... (docs/observability.md)."""
    tracing: bool = False
    """OpenTelemetry spans for requests, actions, hooks, jobs and events (the ``otel`` extra; docs/observability.md)."""
    stall_threshold: float = Field(default=0.1, ge=0)
    """Seconds the event loop may be held before the stall watchdog reports who held it (0: no watchdog)."""

    @field_validator("api_key", "admin_key")
    @classmethod
    def _blank_key_is_no_key(cls, value: SecretStr | None) -> SecretStr | None:
        """``api_key: "${KEY:-}"`` with the variable unset means no key, never a key any client
        matches by sending an empty header."""
        return None if value is None or not value.get_secret_value().strip() else value

    @field_validator("plugin_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        value = "/" + value.strip("/")
        return "" if value == "/" else value


class PluginsConfig(Strict):
    """``plugins``: which plugins run, local development plugins, and per-plugin settings.

    ``enabled`` is an allow-list (``None``: every installed plugin); ``disabled`` wins over it.
    ``local`` maps a name to ``module:attr`` for plugins that are not pip-installed.
    ``settings.<name>`` reaches plugin ``<name>`` as ``self.ctx.config``.
    ``sandboxed.<name>`` runs plugin ``<name>`` in a worker process with only the granted permissions.
    """

    enabled: list[str] | None = None
    disabled: list[str] = Field(default_factory=list)
    local: dict[str, str] = Field(default_factory=dict)
    settings: dict[str, dict[str, Any]] = Field(default_factory=dict)
    directory: str | None = None
    """A folder of plugins in the original XCore's layout (``<name>/plugin.yaml``, ``src/main.py``)."""
    sandboxed: dict[str, SandboxedPluginConfig] = Field(default_factory=dict)

    @field_validator("local")
    @classmethod
    def _local(cls, value: dict[str, str]) -> dict[str, str]:
        for name, target in value.items():
            if ":" not in target:
                raise ValueError(f"plugins.local.{name}: {target!r} must be written 'module:attribute'")
        return value


class ServicesConfig(Strict):
    """``services``: sections validated further by each service type's own settings model."""

    databases: dict[str, dict[str, Any]] | None = None
    cache: dict[str, Any] | None = None
    scheduler: dict[str, Any] | None = None
    events: dict[str, Any] | None = None
    tasks: dict[str, Any] | None = None
    extensions: dict[str, dict[str, Any]] | None = None


class XcoreConfig(Strict):
    """The whole of ``integration.yaml`` after ``${VAR}`` expansion."""

    app: AppConfig = Field(default_factory=lambda: AppConfig())
    plugins: PluginsConfig = Field(default_factory=lambda: PluginsConfig())
    services: ServicesConfig = Field(default_factory=lambda: ServicesConfig())


EMBEDDED_DATA_DIR = ".xcore"

EMBEDDED_DEFAULTS: dict[str, Any] = {
    "databases": {"default": {"type": "sqlite", "url": f"sqlite:///{EMBEDDED_DATA_DIR}/xcore.db"}},
    "cache": {"backend": "memory"},
    "scheduler": {"backend": "memory"},
    "events": {"backend": "memory"},
    "tasks": {"backend": "memory"},
    "extensions": {"storage": {"type": "local", "root": f"{EMBEDDED_DATA_DIR}/storage"}},
}
"""What a missing ``services`` section means: a SQLite file, memory cache, scheduler and events,
and local storage, all under ``./.xcore``. ``xcore serve`` starts with no config file at all."""
