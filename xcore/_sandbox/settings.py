"""``plugins.sandboxed.<name>``: what the operator grants a sandboxed plugin, validated like every key.

::

    plugins:
      sandboxed:
        reports:
          permissions:
            - db: {name: default, mode: read}
            - cache
            - events: {emit: ["reports.*"], subscribe: ["users.created"]}
            - storage: {prefix: "reports/"}
            - network: ["api.example.com:443"]
            - scheduler                      # jobs of its own, running its own methods
            - plugins: {call: ["billing.*"]} # other plugins' actions ("<plugin>.<action>" patterns)
          limits: {memory_mb: 256, cpu_seconds_per_call: 5, open_files: 64, timeout: 10}
          sandbox: {require: [network, filesystem]}

Everything not granted is denied. Unknown permission, limit or sandbox keys are configuration
errors naming the key. A plugin may declare the permissions it wants (``permissions`` on its class,
same syntax); they are shown beside the grant and never widen it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

PERMISSION_KINDS = ("db", "cache", "events", "storage", "network", "scheduler", "plugins")
Protection = Literal["privileges", "network", "filesystem", "limits", "no_new_privs"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DbGrant(_Strict):
    """``db: {name, mode}``: one database, read-only (enforced by the database) or read-write."""

    name: str = "default"
    mode: Literal["read", "write"] = "read"


class EventsGrant(_Strict):
    """``events: {emit, subscribe}``: event name patterns the plugin may emit and subscribe to."""

    emit: list[str] = Field(default_factory=list)
    subscribe: list[str] = Field(default_factory=list)

    @field_validator("emit", "subscribe")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        from xcore._events.patterns import compile_pattern

        for pattern in value:
            compile_pattern(pattern)
        return value


class PluginsGrant(_Strict):
    """``plugins: {call}``: other plugins' actions the plugin may call, as ``<plugin>.<action>``
    patterns with the event wildcards (``billing.*``: every action of ``billing``; ``billing.charge``:
    that one action)."""

    call: list[str]

    @field_validator("call")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        from xcore._events.patterns import compile_pattern

        for pattern in value:
            if "." not in pattern and pattern != "**":
                raise ValueError(f"call pattern {pattern!r} must name '<plugin>.<action>', such as 'billing.*'")
            compile_pattern(pattern)
        return value


class StorageGrant(_Strict):
    """``storage: {prefix, name}``: keys below ``prefix`` of the storage extension ``name``."""

    prefix: str
    name: str = "storage"

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not value or value.startswith("/") or ".." in value.split("/"):
            raise ValueError(f"prefix {value!r} must be a relative key prefix such as 'reports/'")
        return value


class Grants(_Strict):
    """The permissions list, normalised: one field per permission kind (``None``/empty: not granted)."""

    db: dict[str, DbGrant] = Field(default_factory=dict)
    cache: bool = False
    scheduler: bool = False
    events: EventsGrant | None = None
    storage: StorageGrant | None = None
    network: list[str] | None = None
    plugins: PluginsGrant | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        out: dict[str, Any] = {"db": {}}
        for index, item in enumerate(value):
            if isinstance(item, str):
                kind, body = item, None
            elif isinstance(item, dict) and len(item) == 1:
                kind, body = next(iter(item.items()))
            else:
                raise ValueError(
                    f"permissions[{index}]: write a permission name or a one-key mapping "
                    f"such as 'cache' or {{db: {{name: default, mode: read}}}} (got {item!r})"
                )
            if kind not in PERMISSION_KINDS:
                raise ValueError(
                    f"permissions[{index}]: unknown permission {kind!r}; "
                    f"known permissions: {', '.join(PERMISSION_KINDS)}"
                )
            if kind == "db":
                grant = DbGrant.model_validate(body or {})
                out["db"][grant.name] = grant
            elif kind in ("cache", "scheduler"):
                if body not in (None, {}, True):
                    raise ValueError(f"permissions[{index}]: {kind!r} takes no settings (got {body!r})")
                out[kind] = True
            elif kind == "network":
                if not isinstance(body, list) or not all(isinstance(h, str) and _host_port(h) for h in body):
                    raise ValueError(f"permissions[{index}]: network must list 'host:port' strings (got {body!r})")
                out["network"] = body
            elif kind == "plugins":
                out["plugins"] = PluginsGrant.model_validate(body if body is not None else {})
            else:
                out[kind] = body
        return out

    def describe(self) -> list[str]:
        """One short line per granted permission, for ``xcore plugins`` and health."""
        lines = [f"db:{g.name}:{g.mode}" for g in self.db.values()]
        if self.cache:
            lines.append("cache")
        if self.scheduler:
            lines.append("scheduler")
        if self.events is not None:
            lines.append(f"events:emit={','.join(self.events.emit)};subscribe={','.join(self.events.subscribe)}")
        if self.storage is not None:
            lines.append(f"storage:{self.storage.name}:{self.storage.prefix}")
        if self.network:
            lines.append("network:" + ",".join(self.network))
        if self.plugins is not None:
            lines.append("plugins:call=" + ",".join(self.plugins.call))
        return lines


def _host_port(text: str) -> bool:
    host, sep, port = text.rpartition(":")
    return bool(host) and bool(sep) and port.isdigit() and 0 < int(port) < 65536


class Limits(_Strict):
    """``limits``: resources of the worker process and of each call."""

    memory_mb: int = Field(default=512, ge=64)
    cpu_seconds_per_call: int = Field(default=10, ge=1)
    open_files: int = Field(default=64, ge=16)
    timeout: float = Field(default=10.0, gt=0)
    processes: int = Field(default=16, ge=1)
    transactions: int = Field(default=4, ge=1, le=64)
    """Database transactions the plugin may hold open at once (each holds a pooled connection)."""
    transaction_seconds: float = Field(default=30.0, gt=0, le=3600)
    """How long one transaction may stay open; past it, the host rolls it back."""


class SandboxOptions(_Strict):
    """``sandbox``: which protections must be active (else the plugin does not start), and its folder."""

    require: list[Protection] = Field(default_factory=list)
    data_dir: str | None = None
    """The plugin's own read-write folder; default ``.xcore/sandbox/<name>`` under the working directory."""
    idle_spin_us: int = Field(default=150, ge=0, le=10_000)
    """How long an idle worker keeps watching its socket after answering, yielding its CPU to anyone
    waiting for it, before its loop sleeps (microseconds; 0: never). A caller's next request then
    usually finds it awake: on a virtual machine waking a sleeping process costs tens of microseconds."""


class SandboxedPluginConfig(_Strict):
    """``plugins.sandboxed.<name>``."""

    permissions: Grants = Field(default_factory=Grants)
    limits: Limits = Field(default_factory=Limits)
    sandbox: SandboxOptions = Field(default_factory=SandboxOptions)
