"""The worker's side of the capability proxies: stand-ins for services that forward each call.

``self.get_service("cache")`` inside a sandbox returns a :class:`RemoteService`: every method call
becomes one ``service`` request to the host, where the capability proxy checks the grant and runs it.
Nothing here decides what is allowed (the worker is untrusted by definition); a denial comes back
as ``PermissionError`` naming the permission to grant.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

Request = Callable[[dict[str, Any], bytes], Awaitable[tuple[Any, bytes]]]

ERRORS: dict[str, type[Exception]] = {
    "PermissionError": PermissionError,
    "KeyError": KeyError,
    "ValueError": ValueError,
    "TypeError": TypeError,
    "TimeoutError": TimeoutError,
    "LookupError": LookupError,
    "FileNotFoundError": FileNotFoundError,
}


def raise_remote(error: Mapping[str, Any]) -> None:
    """Raise the exception a host answer describes, as its own type where it is a common one."""
    kind = ERRORS.get(str(error.get("type")), RuntimeError)
    raise kind(str(error.get("message", "")))


class RemoteService:
    """Any service, seen from the worker: attribute access gives a coroutine function that calls the host."""

    def __init__(self, name: str, request: Request) -> None:
        self._name = name
        self._request = request

    def __getattr__(self, method: str) -> Callable[..., Awaitable[Any]]:
        if method.startswith("_"):
            raise AttributeError(method)

        async def call(*args: Any, **kwargs: Any) -> Any:
            blob = b""
            if args and callable(args[0]):  # a job's function: the worker runs it by name, on the plugin
                args = ({"method": args[0].__name__}, *args[1:])
            if args and isinstance(args[0], bytes | bytearray) and method == "upload":
                blob, args = bytes(args[0]), ("\0blob", *args[1:])
            result, data = await self._request(
                {"op": "service", "service": self._name, "method": method, "args": list(args), "kwargs": kwargs}, blob
            )
            return data if result == "\0blob" else result

        call.__name__ = method
        return call

    async def get_or_set(self, key: str, factory: Callable[[], Any], ttl: float | None = None) -> Any:
        """The cache's ``get_or_set``: the factory runs here, in the sandbox, on a miss."""
        marker = "\0missing"
        value = await self.get(key, marker)
        if value != marker:
            return value
        value = factory()
        if inspect.isawaitable(value):
            value = await value
        await self.set(key, value, ttl)
        return value

    def __repr__(self) -> str:
        return f"<sandboxed service {self._name!r}>"


class RemoteEvents:
    """``ctx.events`` in a sandbox: subscriptions are registered with the host, handlers run here.

    ``on`` may be called in ``on_load`` (or by ``@on`` marks): the subscription is sent to the host
    when ``on_load`` returns, where a pattern outside the grant fails the load with ``PermissionError``.
    """

    def __init__(self, request: Request) -> None:
        self._request = request
        self.handlers: dict[int, Callable[[Any], Any]] = {}
        self.pending: list[tuple[str, Callable[[Any], Any]]] = []

    async def emit(self, name: str, data: Any = None) -> Any:
        result, _ = await self._request(
            {"op": "service", "service": "events", "method": "emit", "args": [name, data], "kwargs": {}}, b""
        )
        return result

    async def subscribe(self, pattern: str, handler: Callable[[Any], Any]) -> int:
        """Ask the host to deliver events matching ``pattern``; ``PermissionError`` if not granted."""
        sub, _ = await self._request(
            {"op": "service", "service": "events", "method": "subscribe", "args": [pattern], "kwargs": {}}, b""
        )
        self.handlers[int(sub)] = handler
        return int(sub)

    def on(self, name: str, handler: Callable[[Any], Any] | None = None, *, priority: int = 0) -> Any:
        if handler is None:

            def decorate(func: Callable[[Any], Any]) -> Callable[[Any], Any]:
                self.pending.append((name, func))
                return func

            return decorate
        self.pending.append((name, handler))
        return None

    once = on

    async def flush(self) -> None:
        pending, self.pending = self.pending, []
        for pattern, handler in pending:
            await self.subscribe(pattern, handler)


class RemoteServices(Mapping[str, Any]):
    """``ctx.services`` in a sandbox: every name gives a forwarding stand-in; the host decides."""

    def __init__(
        self,
        names: list[str],
        request: Request,
        events: RemoteEvents,
        databases: Mapping[str, str] | None = None,
        sync_request: Callable[[dict[str, Any], bytes], tuple[Any, bytes]] | None = None,
    ) -> None:
        self._names = names
        self._request = request
        self._events = events
        self._databases = dict(databases or {})
        self._sync_request = sync_request
        self._made: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name == "events":
            return self._events
        if name not in self._made:
            kind = self._databases.get(name)
            if kind is not None and self._sync_request is not None:
                from xcore._sandbox.remote_db import database

                self._made[name] = database(kind, name, self._request, self._sync_request)
            else:
                self._made[name] = RemoteService(name, self._request)
        return self._made[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, name: object) -> bool:
        return name in self._names or name == "events"
