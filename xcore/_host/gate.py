"""A plugin's request gate: counts its requests in flight, and answers for it while it is away.

A runtime disable or reload (:mod:`xcore._host.runtime`) removes the plugin's routes from the app and
then waits for the requests already inside them to finish, bounded by ``app.shutdown_timeout``. The
wait needs a count, so every route a plugin mounts has its ASGI app wrapped by :meth:`PluginGate.wrap`
(one integer up and down per request; the route's matching, dependencies and OpenAPI entry are the
route's own, untouched).

While a plugin is disabled or reloading, a catch-all under its prefix (:meth:`PluginGate.away_route`)
answers every request to it with a JSON error naming the plugin and why, instead of the app's bare
``404 Not Found``: ``404`` when it is disabled, ``503`` with ``Retry-After`` while it reloads.
"""

from __future__ import annotations

import asyncio
import json
import time

from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send


class PluginGate:
    """The requests in flight inside one plugin's routes, and its answer while it is away."""

    __slots__ = ("_idle", "active", "away_reason", "away_status", "plugin")

    def __init__(self, plugin: str) -> None:
        self.plugin = plugin
        self.active = 0
        """Requests (HTTP and websocket) running inside the plugin's routes now."""
        self._idle: asyncio.Event | None = None
        self.away_status = 404
        self.away_reason = ""

    def wrap(self, app: ASGIApp) -> ASGIApp:
        """``app`` (a route's ASGI app), counted while it runs."""

        async def counted(scope: Scope, receive: Receive, send: Send) -> None:
            self.active += 1
            try:
                await app(scope, receive, send)
            finally:
                self.leave()

        return counted

    def __enter__(self) -> PluginGate:
        """Count one request into the plugin that is not one of its routes (the HTTP action endpoint)."""
        self.active += 1
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.leave()

    def leave(self) -> None:
        self.active -= 1
        if not self.active and self._idle is not None:
            self._idle.set()

    async def drain(self, timeout: float) -> int:
        """Wait until no request runs inside the plugin, at most ``timeout`` seconds; the number left."""
        deadline = time.monotonic() + timeout
        while self.active and (left := deadline - time.monotonic()) > 0:
            self._idle = asyncio.Event()
            try:
                await asyncio.wait_for(self._idle.wait(), left)
            except TimeoutError:
                break
            finally:
                self._idle = None
        return self.active

    def away_route(self, prefix: str) -> Mount:
        """A route answering everything under ``prefix`` with :attr:`away_status` and the reason."""

        async def away(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                return  # a websocket handshake that is not accepted is refused (403) by the server
            body = json.dumps({"detail": self.away_reason, "plugin": self.plugin}).encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            if self.away_status == 503:
                headers.append((b"retry-after", b"2"))
            await send({"type": "http.response.start", "status": self.away_status, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        return Mount(prefix, app=away, name=f"xcore-away:{self.plugin}")


__all__ = ["PluginGate"]
