"""The host's side of the capability proxies: one check per service kind, before each call runs.

A sandboxed plugin reaches services only through :meth:`Capabilities.invoke`. Each kind has one
method here that checks the grant and runs the call on the real service:

* databases (``sqlasync`` and ``sql`` types): single statements (``fetch``/``fetchrow``/
  ``fetchval``/``execute``), and ``begin``/``run``/``commit``/``rollback`` of transactions the host
  holds for the calling worker (:mod:`.transactions`); ``mode: read`` runs every one read-only in the
  database (PostgreSQL ``SET TRANSACTION READ ONLY``, SQLite ``PRAGMA query_only``), so a write is
  refused by the database itself;
* ``cache``: every key is put under the plugin's own namespace ``sandbox.<plugin>:``;
* ``events``: emit and subscribe only names matching the granted patterns;
* storage: keys below the granted prefix only;
* ``scheduler``: the plugin's own jobs (the scheduler's per-plugin view), each job running one of
  the plugin's own methods in the worker;
* network: ``open(host, port)`` for a granted ``host:port`` (see :mod:`.egress`);
* ``plugins``: ``call(plugin, action, payload)`` when ``<plugin>.<action>`` matches a granted
  ``plugins: {call: [...]}`` pattern; the call then runs through the host's dispatcher, like a
  trusted plugin's ``ctx.call``.

Anything else is denied. A denial raises :class:`Denied`, which the worker turns back into
``PermissionError`` naming the permission to grant; the host logs an audit line and emits the
kernel event :data:`SANDBOX_DENIED`.
"""

from __future__ import annotations

import contextlib
import logging
import posixpath
from collections.abc import Awaitable, Callable
from typing import Any

from xcore._errors import XcoreError
from xcore._events.patterns import check_name, compile_pattern
from xcore._observability import tracing
from xcore._observability.service_spans import service_call_span
from xcore._sandbox.settings import Grants
from xcore._sandbox.transactions import (
    CONNECTION_METHODS,
    AsyncSessionTx,
    ConnectionTx,
    SyncSessionTx,
    Transactions,
)

audit = logging.getLogger("xcore.sandbox.audit")

SANDBOX_DENIED = "xcore.sandbox.denied"
"""Kernel event: a sandboxed plugin asked for something not granted (``plugin``, ``permission``, ``call``)."""
SANDBOX_WORKER_FAILED = "xcore.sandbox.worker_failed"
"""Kernel event: a sandboxed plugin's worker kept dying and is no longer restarted (``plugin``, ``error``)."""

CACHE_METHODS = frozenset(
    {"get", "set", "delete", "exists", "incr", "decr", "ttl", "get_many", "set_many", "delete_pattern", "clear"}
)
DB_METHODS = frozenset({*CONNECTION_METHODS, "begin", "run", "commit", "rollback"})
STORAGE_METHODS = frozenset({"upload", "download", "delete", "exists", "list"})
SCHEDULER_METHODS = frozenset({"add_job", "get_jobs", "get_job", "remove_job", "pause_job", "resume_job"})
_SPANNED_METHODS = {"cache": CACHE_METHODS, "events": frozenset({"emit", "subscribe"}), "network": frozenset({"open"})}


class Denied(XcoreError, PermissionError):
    """A call outside the grant; ``permission`` is what the operator would have to grant."""

    def __init__(self, plugin: str, permission: str, call: str) -> None:
        self.plugin, self.permission, self.call = plugin, permission, call
        super().__init__(
            f"sandboxed plugin {plugin!r} lacks permission {permission} (for {call}); "
            f"grant it under plugins.sandboxed.{plugin}.permissions"
        )


class Capabilities:
    """What one sandboxed plugin may do with the host's services."""

    def __init__(
        self,
        plugin: str,
        grants: Grants,
        services: Any,
        subscribe: Callable[[str], Awaitable[int]],
        announce: Callable[[str, dict[str, Any]], Awaitable[None]],
        scoped: Any = None,
        run_job: Callable[..., Awaitable[Any]] | None = None,
        call_plugin: Callable[[str, str, dict[str, Any] | None], Awaitable[dict[str, Any]]] | None = None,
        transactions: Transactions | None = None,
    ) -> None:
        self.plugin = plugin
        self._transactions = transactions if transactions is not None else Transactions(plugin, 4, 30.0)
        self._call_plugin = call_plugin
        self._scoped = scoped
        self._run_job = run_job
        self.grants = grants
        self._services = services
        self._subscribe = subscribe
        self._announce = announce
        self._namespace = f"sandbox.{plugin}:"

    async def invoke(
        self, service: str, method: str, args: list[Any], kwargs: dict[str, Any], blob: bytes, owner: object = None
    ) -> tuple[Any, bytes]:
        """Run one service call of the worker ``owner`` (transactions are bound to it) if granted,
        in a ``<service>.<method>`` span with tracing on, as a trusted plugin's call is (the
        scheduler's and other plugins' calls are spanned where they run: the plugin's scheduler
        view, the ``action`` span)."""
        if tracing.TRACER is None or not self._spanned(service, method):
            return await self._invoke(service, method, args, kwargs, blob, owner)
        with service_call_span(service, method, self.plugin):
            return await self._invoke(service, method, args, kwargs, blob, owner)

    def _spanned(self, service: str, method: str) -> bool:
        """Whether a call gets a span here: only a known method of a real service, so the names a
        worker writes in its frames cannot become span names (any name, any length, unbounded
        variety). The scheduler's and other plugins' calls are spanned where they run."""
        if service in ("cache", "events", "network"):
            return method in _SPANNED_METHODS[service]
        kind, _ = self._kind_of(service)
        return (kind == "database" and method in DB_METHODS) or (kind == "extension" and method in STORAGE_METHODS)

    async def _invoke(
        self, service: str, method: str, args: list[Any], kwargs: dict[str, Any], blob: bytes, owner: object
    ) -> tuple[Any, bytes]:
        call = f"{service}.{method}"
        try:
            if service == "cache":
                return await self._cache(method, args, kwargs), b""
            if service == "events":
                return await self._events(method, args), b""
            if service == "network":
                return self._network(method, args), b""
            if service == "plugins":
                return await self._plugins(method, args), b""
            kind, real = self._kind_of(service)
            if kind == "scheduler":
                return self._scheduler(method, args, kwargs), b""
            if kind == "database":
                return await self._database(owner, real, method, args, kwargs), b""
            if kind == "extension" and self.grants.storage is not None and real == f"ext.{self.grants.storage.name}":
                return await self._storage(real, method, args, blob)
            raise Denied(self.plugin, f"service {service!r} (not grantable to sandboxed plugins)", call)
        except Denied as denied:
            audit.warning(
                "sandbox audit: plugin %r denied %s: lacks permission %s", self.plugin, call, denied.permission
            )
            await self._announce(SANDBOX_DENIED, {"plugin": self.plugin, "permission": denied.permission, "call": call})
            raise

    def _kind_of(self, service: str) -> tuple[str | None, str]:
        candidates = [service, f"ext.{service}"] if not service.startswith("ext.") else [service]
        for name in candidates:
            try:
                entry = self._services.entry(name)
            except KeyError:
                continue
            return str(entry.spec.kind), str(entry.spec.name)
        return None, service

    # ------------------------------------------------------------------ cache

    async def _cache(self, method: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        if not self.grants.cache:
            raise Denied(self.plugin, "'cache'", f"cache.{method}")
        if method not in CACHE_METHODS:
            raise Denied(
                self.plugin, f"'cache' (method {method!r} is not offered to sandboxed plugins)", f"cache.{method}"
            )
        cache = self._services.get("cache")
        ns = self._namespace
        if method == "clear":
            return await cache.delete_pattern(ns + "*")
        if method == "get_many":
            keys = [self._key(k) for k in args[0]]
            found = await cache.get_many(keys)
            return {k[len(ns) :]: v for k, v in found.items()}
        if method == "set_many":
            return await cache.set_many({self._key(k): v for k, v in dict(args[0]).items()}, *args[1:], **kwargs)
        if not args:
            raise TypeError(f"cache.{method} needs a key")
        return await getattr(cache, method)(self._key(args[0]), *args[1:], **kwargs)

    def _key(self, key: object) -> str:
        if not isinstance(key, str):
            raise TypeError(f"cache keys must be str, got {type(key).__name__}")
        return self._namespace + key

    # ------------------------------------------------------------------ events

    async def _events(self, method: str, args: list[Any]) -> Any:
        grant = self.grants.events
        if method == "emit":
            name = check_name(args[0] if args else None)
            if grant is None or not any(compile_pattern(p).matches(name) for p in grant.emit):
                raise Denied(self.plugin, f"events: {{emit: [{name!r}]}}", f"events.emit({name!r})")
            bus = self._services.get("events")
            await bus.emit(name, args[1] if len(args) > 1 else None, source=self.plugin)
            return None
        if method == "subscribe":
            pattern = str(args[0]) if args else ""
            compiled = compile_pattern(pattern)
            allowed = grant is not None and (
                pattern in grant.subscribe
                or (compiled.is_exact and any(compile_pattern(p).matches(pattern) for p in grant.subscribe))
            )
            if not allowed:
                raise Denied(self.plugin, f"events: {{subscribe: [{pattern!r}]}}", f"events.subscribe({pattern!r})")
            return await self._subscribe(pattern)
        raise Denied(self.plugin, f"events (method {method!r} is not offered to sandboxed plugins)", f"events.{method}")

    # ------------------------------------------------------------------ scheduler

    def _scheduler(self, method: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        if not self.grants.scheduler:
            raise Denied(self.plugin, "'scheduler'", f"scheduler.{method}")
        if method not in SCHEDULER_METHODS:
            raise Denied(
                self.plugin,
                f"'scheduler' (method {method!r} is not offered to sandboxed plugins)",
                f"scheduler.{method}",
            )
        view = self._scoped["scheduler"]  # the scheduler's own per-plugin view: only this plugin's jobs
        if method == "add_job":
            func = args[0] if args else kwargs.pop("func", None)
            if not isinstance(func, dict) or not isinstance(func.get("method"), str):
                raise TypeError("a sandboxed plugin's job runs one of its own methods: add_job(self.method, ...)")
            job_args = [func["method"], *(kwargs.pop("args", None) or [])]
            job = view.add_job(self._run_job, *args[1:2], args=job_args, **kwargs)
            return _job(job)
        if method == "get_jobs":
            return [_job(job) for job in view.get_jobs()]
        result = getattr(view, method)(*args, **kwargs)
        return _job(result) if result is not None and hasattr(result, "next_run_time") else None

    # ------------------------------------------------------------------ network

    def _network(self, method: str, args: list[Any]) -> list[Any]:
        """``open(host, port)``: allowed when ``host:port`` is granted; the supervisor then connects."""
        if method != "open" or len(args) != 2:
            raise Denied(self.plugin, "network (only connections through the egress proxy)", f"network.{method}")
        host, port = str(args[0]), int(args[1])
        if f"{host}:{port}" not in (self.grants.network or []):
            raise Denied(self.plugin, f"network: ['{host}:{port}']", f"connect {host}:{port}")
        return [host, port]

    # ------------------------------------------------------------------ other plugins

    async def _plugins(self, method: str, args: list[Any]) -> Any:
        """``call(plugin, action, payload)``: allowed when ``<plugin>.<action>`` matches a granted pattern."""
        if method != "call" or len(args) not in (2, 3):
            raise Denied(self.plugin, "plugins (only call(plugin, action, payload))", f"plugins.{method}")
        plugin, action = str(args[0]), str(args[1])
        payload = args[2] if len(args) == 3 else None
        target = f"{plugin}.{action}"
        grant = self.grants.plugins
        if grant is None or not any(compile_pattern(p).matches(target) for p in grant.call):
            raise Denied(self.plugin, f"plugins: {{call: [{target!r}]}}", f"call {target}")
        if payload is not None and not isinstance(payload, dict):
            raise TypeError(f"the payload of a call to {target} must be a dict, got {type(payload).__name__}")
        if self._call_plugin is None:
            raise KeyError("plugin calls are not available in this host")
        return await self._call_plugin(plugin, action, payload)

    # ------------------------------------------------------------------ databases

    async def _database(self, owner: object, name: str, method: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        grant = self.grants.db.get(name)
        if grant is None:
            raise Denied(self.plugin, f"db: {{name: {name}, mode: read}}", f"db.{method}")
        if method not in DB_METHODS:
            raise Denied(self.plugin, f"db (method {method!r} is not offered to sandboxed plugins)", f"db.{method}")
        db = self._services.get(name)
        readonly = grant.mode == "read"
        if method == "begin":
            return await self._transactions.begin(owner, _open_tx(db, name, str(args[0]) if args else "", readonly))
        if "tx" in kwargs:
            if method in ("commit", "rollback"):
                return await self._transactions.finish(owner, kwargs["tx"], commit=method == "commit")
            return await self._transactions.run(owner, kwargs["tx"], method, args)
        if method not in CONNECTION_METHODS or not args:
            raise TypeError(f"db.{method} outside a transaction: use {', '.join(sorted(CONNECTION_METHODS))}(query)")
        # One statement, its own transaction (read-only in the database for mode: read).
        tx = _open_tx(db, name, "connection", readonly)
        await tx.start()
        committed = False
        try:
            result = await tx.run(method, args)
            await tx.finish(commit=True)
            committed = True
            return result
        finally:
            if not committed:
                with contextlib.suppress(Exception):
                    await tx.finish(commit=False)

    # ------------------------------------------------------------------ storage

    async def _storage(self, service: str, method: str, args: list[Any], blob: bytes) -> tuple[Any, bytes]:
        grant = self.grants.storage
        assert grant is not None
        if method not in STORAGE_METHODS:
            raise Denied(
                self.plugin, f"storage (method {method!r} is not offered to sandboxed plugins)", f"storage.{method}"
            )
        path = str(args[1] if method == "upload" else (args[0] if args else ""))
        clean = posixpath.normpath(path) if path else ""
        inside = clean.startswith(grant.prefix) or (method == "list" and (clean + "/").startswith(grant.prefix))
        if ".." in path.split("/") or not inside:
            raise Denied(self.plugin, f"storage: {{prefix: {path!r}}}", f"storage.{method}({path!r})")
        storage = self._services.get(service)
        if method == "upload":
            return await storage.upload(blob, path), b""
        if method == "download":
            return "\0blob", await storage.download(path)
        return await getattr(storage, method)(path), b""


def _job(job: Any) -> dict[str, Any]:
    return {
        "id": job.id,
        "name": job.name,
        "next_run_time": None if job.next_run_time is None else job.next_run_time.isoformat(),
    }


def _open_tx(db: Any, name: str, style: str, readonly: bool) -> ConnectionTx | AsyncSessionTx | SyncSessionTx:
    """The transaction shape for ``style`` on ``db``; ``Denied`` for a database type not proxied."""
    from xcore._builtin_services.sql.service import SqlDatabase
    from xcore._builtin_services.sqlasync.service import AsyncSqlDatabase

    if isinstance(db, AsyncSqlDatabase) and style == "connection":
        return ConnectionTx(db, readonly)
    if isinstance(db, AsyncSqlDatabase) and style == "session":
        return AsyncSessionTx(db.engine, readonly)
    if isinstance(db, SqlDatabase) and style == "session":
        return SyncSessionTx(db.engine, readonly)
    if style not in ("connection", "session"):
        raise TypeError(f"begin({style!r}): the style is 'connection' or 'session'")
    raise PermissionError(
        f"database {name!r} ({type(db).__name__}) offers no {style} to sandboxed plugins; "
        "sqlasync offers connection() and session(), sql offers session()"
    )


def database_kinds(container: Any, names: list[str]) -> dict[str, str]:
    """Which of ``names`` are databases a sandbox can use, and their type (``sql`` or ``sqlasync``):
    the worker builds the matching stand-in (synchronous sessions for ``sql``)."""
    from xcore._builtin_services.sql.service import SqlDatabase
    from xcore._builtin_services.sqlasync.service import AsyncSqlDatabase

    kinds: dict[str, str] = {}
    for name in names:
        try:
            entry = container.entry(name)
        except KeyError:
            continue
        if str(entry.spec.kind) != "database":
            continue
        service = entry.service
        if isinstance(service, SqlDatabase):
            kinds[name] = "sql"
        elif isinstance(service, AsyncSqlDatabase):
            kinds[name] = "sqlasync"
    return kinds
