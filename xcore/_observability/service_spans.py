"""Spans for the calls a plugin makes on its services: ``cache.get``, ``storage.upload``, ``main.session``...

With ``app.tracing: true``, :class:`~xcore._services.container.ServiceView` (``ctx.services``, the one
place a plugin gets a service: ``self.get_service``, ``ctx.events``, the test harness all read it) hands
the plugin :func:`traced` instead of the service. That is an instance of a subclass of the service's own
class, made once per class, whose instances hold the real service and delegate every attribute read,
write and delete to it. So ``isinstance(service, Cache)``, ``get_service("db", AsyncSqlDatabase)``,
properties, attributes and ``__getattr__``-served methods (``redis_db``'s commands) behave as on the real
object, and a third-party backend's service is traced with no code of its own. With tracing off the
plugin gets the service itself: nothing here runs.

A public method read from the proxy comes back wrapped; calling it records one span named
``<service>.<method>`` (internal kind: a memory cache never leaves the process, and the statements that
do leave it get client spans of their own, :mod:`.sql_spans`), current while the call runs, so what the
method does (a SQL statement, a job added, an event delivered) nests under it. What the span covers:

- an ``async def`` method: until its result is awaited;
- a plain method returning a coroutine (redis-py's async commands): the call and the awaiting;
- a plain method returning a context manager (``db.session()``, ``db.connection()``, a redis
  pipeline): the call and the whole ``async with``/``with`` block, current inside it, so the block's
  statements are its children and a commit at the block's exit is inside it. The manager comes back
  as a proxy of its own class, delegating like the service's. Used without ``with`` (``session =
  db.session()``), the span ends at the first use of the object instead;
- anything else (a value, an iterator): the call only.

A generator method (``async def`` with ``yield``) is handed out unwrapped: calling it runs nothing, and
a span current across its ``yield``s would leak into the consumer's loop body.

A span never records arguments, results or exception messages: a cache key or a storage path may
hold a secret, and an exception's message often quotes them. A failure sets status ERROR with the
exception's type as description and an ``exception`` event carrying only ``exception.type``.

:func:`service_call_span` is the same span for callers that make the call themselves (the
sandbox's host-side capability proxies).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import types
from collections.abc import Callable, Iterator
from typing import Any

from xcore._observability import tracing

SERVICE = "xcore.service"
METHOD = "xcore.service.method"
_METHODS = (types.MethodType, types.BuiltinMethodType)
_plugin_key: Any = None


def _key() -> Any:
    """The OpenTelemetry context key carrying the calling plugin's name to :mod:`.sql_spans`."""
    global _plugin_key
    if _plugin_key is None:
        from opentelemetry.context import create_key

        _plugin_key = create_key("xcore.plugin")
    return _plugin_key


def current_plugin() -> str | None:
    """The plugin whose service call or block is running in this context, if any."""
    from opentelemetry.context import get_value

    plugin = get_value(_key())
    return plugin if isinstance(plugin, str) else None


class _Site:
    """Where a span comes from: one service method as one plugin calls it."""

    __slots__ = ("attributes", "name", "plugin")

    def __init__(self, service: str, method: str, plugin: str | None) -> None:
        self.name = f"{service}.{method}"
        self.plugin = plugin
        self.attributes: dict[str, str] = {SERVICE: service, METHOD: method}
        if plugin:
            self.attributes[tracing.PLUGIN] = plugin

    def start(self) -> Any:
        return tracing.TRACER.start_span(self.name, attributes=self.attributes)

    def attach(self, span: Any) -> object:
        """Make ``span`` (and the plugin's name) current; returns the token :func:`_detach` takes."""
        from opentelemetry import context, trace

        return context.attach(trace.set_span_in_context(span, context.set_value(_key(), self.plugin)))


def _detach(token: object) -> None:
    """Undo :meth:`_Site.attach`; quietly nothing when the block is left in another context copy.

    FastAPI runs a synchronous generator dependency's ``with db.session()`` enter and exit in two
    thread-pool calls, each in its own copy of the context: the copy that attached is gone, and
    OpenTelemetry's ``detach`` would log an error for every request. Its default runtime context
    hands out ``contextvars`` tokens, reset here directly; any other runtime gets its own ``detach``.
    """
    if isinstance(token, contextvars.Token):
        with contextlib.suppress(ValueError):  # "created in a different Context"
            token.var.reset(token)
        return
    from opentelemetry import context

    context.detach(token)  # type: ignore[arg-type]


@contextlib.contextmanager
def _spanning(site: _Site) -> Iterator[Any]:
    span = site.start()
    token = site.attach(span)
    try:
        yield span
    except Exception as exc:
        tracing.failed(span, exc)
        raise
    finally:
        _detach(token)
        span.end()


def service_call_span(service: str, method: str, plugin: str | None) -> contextlib.AbstractContextManager[Any]:
    """A ``<service>.<method>`` span around the block, current in it (a no-op while tracing is off).

    For code that performs a plugin's service call itself, like the sandbox's host-side capability
    proxies: ``with service_call_span("cache", "get", "shop"): value = await cache.get(key)``.
    """
    if tracing.TRACER is None:
        return contextlib.nullcontext()
    return _spanning(_Site(service, method, plugin))


def traced(service: Any, name: str, plugin: str | None) -> Any:
    """``service`` as plugin ``plugin`` gets it with tracing on: a proxy spanning its method calls.

    Falls back to ``service`` itself for a class that cannot be subclassed or instantiated without
    its constructor (a C type with its own layout): such a service works as before, without spans.
    """
    proxy = _new(service, "service")
    if proxy is None:
        return service
    object.__setattr__(proxy, "_xcore_service", name)
    object.__setattr__(proxy, "_xcore_plugin", plugin)
    return proxy


# ---------------------------------------------------------------------------------------- the proxies


def _real(proxy: Any) -> Any:
    return object.__getattribute__(proxy, "_xcore_real")


def _service_getattribute(self: Any, name: str) -> Any:
    value = getattr(_real(self), name)
    if name[0] == "_" or not isinstance(value, _METHODS) or _generates(value):
        return value
    site = _Site(object.__getattribute__(self, "_xcore_service"), name, object.__getattribute__(self, "_xcore_plugin"))
    return _spanned(value, site)


def _generates(method: Any) -> bool:
    """A generator method: calling it runs nothing, and a span current across its ``yield``s would
    leak into the consumer's loop body, so it is handed out as it is."""
    return inspect.isasyncgenfunction(method) or inspect.isgeneratorfunction(method)


def _setattr(self: Any, name: str, value: Any) -> None:
    setattr(_real(self), name, value)


def _delattr(self: Any, name: str) -> None:
    delattr(_real(self), name)


def _dir(self: Any) -> list[str]:
    return dir(_real(self))


def _spanned(method: Callable[..., Any], site: _Site) -> Callable[..., Any]:
    """``method``, recording a span per call (see the module's docstring for what it covers)."""
    if inspect.iscoroutinefunction(method):

        @functools.wraps(method)
        async def call_async(*args: Any, **kwargs: Any) -> Any:
            if tracing.TRACER is None:
                return await method(*args, **kwargs)
            with _spanning(site):
                return await method(*args, **kwargs)

        return call_async

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        if tracing.TRACER is None:
            return method(*args, **kwargs)
        span = site.start()
        token = site.attach(span)
        try:
            result = method(*args, **kwargs)
        except BaseException as exc:
            _detach(token)
            if isinstance(exc, Exception):
                tracing.failed(span, exc)
            span.end()
            raise
        _detach(token)
        return _continued(result, span, site)

    return call


def _continued(result: Any, span: Any, site: _Site) -> Any:
    """What a plain method returned, with ``span`` ended now or when the work it stands for ends."""
    if inspect.iscoroutine(result):
        return _awaited(result, span, site)
    kind = type(result)
    if (hasattr(kind, "__aenter__") and hasattr(kind, "__aexit__")) or (
        hasattr(kind, "__enter__") and hasattr(kind, "__exit__")
    ):
        block = _new(result, "block")
        if block is not None:
            object.__setattr__(block, "_xcore_site", site)
            object.__setattr__(block, "_xcore_pending", span)
            object.__setattr__(block, "_xcore_open", [])
            return block
    span.end()
    return result


async def _awaited(coroutine: Any, span: Any, site: _Site) -> Any:
    token = site.attach(span)
    try:
        return await coroutine
    except Exception as exc:
        tracing.failed(span, exc)
        raise
    finally:
        _detach(token)
        span.end()


def _block_getattribute(self: Any, name: str) -> Any:
    if name[0] != "_":
        _end_pending(self)  # used directly rather than as a ``with`` block: the span covered the call
    return getattr(_real(self), name)


def _end_pending(self: Any) -> None:
    span = object.__getattribute__(self, "_xcore_pending")
    if span is not None:
        object.__setattr__(self, "_xcore_pending", None)
        span.end()


def _opened(self: Any) -> tuple[Any, object]:
    """The span of a block being entered (the call's, or a new one when the manager is entered again)."""
    span = object.__getattribute__(self, "_xcore_pending")
    site: _Site = object.__getattribute__(self, "_xcore_site")
    if span is None:
        span = site.start()
    else:
        object.__setattr__(self, "_xcore_pending", None)
    return span, site.attach(span)


def _closed(span: Any, token: object, error: BaseException | None) -> None:
    _detach(token)
    if isinstance(error, Exception):
        tracing.failed(span, error)
    span.end()


async def _aenter(self: Any) -> Any:
    real = _real(self)
    span, token = _opened(self)
    try:
        value = await type(real).__aenter__(real)
    except BaseException as exc:
        _closed(span, token, exc)
        raise
    object.__getattribute__(self, "_xcore_open").append((span, token))
    return value


async def _aexit(self: Any, kind: Any, error: Any, trace: Any) -> Any:
    real = _real(self)
    span, token = object.__getattribute__(self, "_xcore_open").pop()
    try:
        suppressed = await type(real).__aexit__(real, kind, error, trace)
    except BaseException as exc:
        _closed(span, token, exc)
        raise
    _closed(span, token, None if suppressed else error)
    return suppressed


def _enter(self: Any) -> Any:
    real = _real(self)
    span, token = _opened(self)
    try:
        value = type(real).__enter__(real)
    except BaseException as exc:
        _closed(span, token, exc)
        raise
    object.__getattribute__(self, "_xcore_open").append((span, token))
    return value


def _exit(self: Any, kind: Any, error: Any, trace: Any) -> Any:
    real = _real(self)
    span, token = object.__getattribute__(self, "_xcore_open").pop()
    try:
        suppressed = type(real).__exit__(real, kind, error, trace)
    except BaseException as exc:
        _closed(span, token, exc)
        raise
    _closed(span, token, None if suppressed else error)
    return suppressed


def _no_finalizer(self: Any) -> None:
    return None


_classes: dict[tuple[type, str], type | None] = {}
"""Proxy classes by (class, mode): one per service class and per context-manager class a method
returns, a set fixed by the code loaded, so kept for the process's life."""


def _proxy_class(cls: type, mode: str) -> type | None:
    """The proxy subclass of ``cls`` (made once per class and mode; ``None`` if it cannot be made)."""
    key = (cls, mode)
    if key in _classes:
        return _classes[key]
    namespace: dict[str, Any] = {
        "__module__": cls.__module__, "__qualname__": cls.__qualname__, "__doc__": cls.__doc__,
        "__setattr__": _setattr, "__delattr__": _delattr, "__dir__": _dir,
        # A proxy owns nothing: the real object's finaliser must not run when a proxy is collected.
        "__del__": _no_finalizer,
    }  # fmt: skip
    if mode == "service":
        namespace.update(
            __slots__=("_xcore_real", "_xcore_service", "_xcore_plugin"), __getattribute__=_service_getattribute
        )
    else:
        namespace.update(
            __slots__=("_xcore_real", "_xcore_site", "_xcore_pending", "_xcore_open"),
            __getattribute__=_block_getattribute,
        )
        if hasattr(cls, "__aenter__") and hasattr(cls, "__aexit__"):
            namespace.update(__aenter__=_aenter, __aexit__=_aexit)
        if hasattr(cls, "__enter__") and hasattr(cls, "__exit__"):
            namespace.update(__enter__=_enter, __exit__=_exit)
    try:
        made: type | None = type(cls)(cls.__name__, (cls,), namespace)
    except Exception:  # a final class, a layout that forbids slots, a metaclass that refuses
        made = None
    _classes[key] = made
    return made


def _new(real: Any, mode: str) -> Any:
    """An instance of ``real``'s proxy class holding ``real``, made without running any constructor."""
    cls = _proxy_class(type(real), mode)
    if cls is None:
        return None
    try:
        proxy: Any = object.__new__(cls)
    except TypeError:  # a C base with its own layout ("object.__new__(X) is not safe")
        _classes[(type(real), mode)] = None
        return None
    object.__setattr__(proxy, "_xcore_real", real)
    with contextlib.suppress(AttributeError, TypeError):
        # ``inspect.getattr_static`` (runtime protocols on Python 3.12+) looks in the instance's own
        # ``__dict__``: sharing the real one lets it see the service's instance attributes too.
        object.__setattr__(proxy, "__dict__", object.__getattribute__(real, "__dict__"))
    return proxy
