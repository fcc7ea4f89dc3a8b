"""The stand-in the host registers for a sandboxed plugin: hooks that forward to its worker.

The host treats it like any loaded plugin (pluggy registration, ``on_load``, router, actions,
health, ``on_unload``); behind each hook is a request to the worker process, where the real plugin
runs confined. The untrusted code is never imported here: the worker finds it by its entry point
target (``module:attr``), and the host only locates the module's folder with
``importlib.util.find_spec`` on the top-level name, which reads the filesystem and runs nothing.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from xcore._hookspecs import hookimpl
from xcore._host.announce import announce_on
from xcore._sandbox.capabilities import SANDBOX_WORKER_FAILED, Capabilities, database_kinds
from xcore._sandbox.framing import MAX_FRAME
from xcore._sandbox.settings import Grants, SandboxedPluginConfig
from xcore._sandbox.supervisor import Restarts, Spawn, WorkerError, WorkerProcess
from xcore._sandbox.transactions import Transactions
from xcore._sandbox.zygote import Zygote
from xcore._sandbox.zygote import acquire as zygote_acquire
from xcore._sandbox.zygote import release as zygote_release
from xcore.sdk._context import PluginContext

log = logging.getLogger("xcore.sandbox")

MAX_BODY = MAX_FRAME - 64 * 1024
"""Largest request body forwarded to a worker (one frame); larger requests get 413."""
MAX_NAME = 100
"""Longest service or method name of a worker's call the host reads (the rest is cut)."""
MAX_PATHS = 500
"""Routes taken from a worker's OpenAPI fragment; a larger fragment is not shown (routes still work)."""
_FRAMING_HEADERS = {"connection", "keep-alive", "transfer-encoding", "upgrade", "te", "trailer", "content-length"}


def _bodiless(status: int) -> bool:
    """Statuses whose responses carry no body (and no length): 1xx, 204, 304."""
    return status < 200 or status in (204, 304)


def _length(method: str, status: int, size: int, first: dict[str, Any]) -> list[tuple[bytes, bytes]]:
    """The ``content-length`` of a whole response: its real size (a HEAD answer keeps the worker's
    figure, the size a GET would have had; no length on statuses without a body)."""
    if _bodiless(status):
        return []
    if method == "HEAD":
        given = [
            v for k, v in first.get("headers", []) if k.lower() == "content-length" and v.isascii() and v.isdigit()
        ]
        return [(b"content-length", given[0].encode())] if given else []
    return [(b"content-length", str(size).encode())]


def code_root(target: str) -> str:
    """The folder to put on the worker's ``sys.path`` for ``module:attr``, found without importing it."""
    top = target.partition(":")[0].split(".")[0]
    spec = importlib.util.find_spec(top)
    if spec is None or (spec.origin is None and not spec.submodule_search_locations):
        raise ModuleNotFoundError(f"module {top!r} of sandboxed plugin target {target!r} is not installed")
    if spec.submodule_search_locations:
        return os.path.dirname(os.path.realpath(next(iter(spec.submodule_search_locations))))
    assert spec.origin is not None
    return os.path.dirname(os.path.realpath(spec.origin))


class SandboxedPlugin:
    """A sandboxed plugin as the host sees it. Built by :func:`xcore.sandbox.proxy_plugin`."""

    def __init__(self, name: str, target: str, settings: SandboxedPluginConfig) -> None:
        self.name = name
        self.target = target
        self.settings = settings
        self.worker: WorkerProcess | None = None
        self.failed: str | None = None
        self.restarts = Restarts()
        self.wanted: Grants | None = None
        self.wanted_error: str | None = None
        self.start_ms: float | None = None
        """How long the last worker took from spawn to ready (``on_load`` done), in milliseconds."""
        self._spawn: Spawn | None = None
        self._ctx: PluginContext | None = None
        self._caps: Capabilities | None = None
        self._restarting: asyncio.Task[None] | None = None
        self._background: asyncio.Task[None] | None = None
        self._stopping = False
        self._subscriptions: dict[int, Any] = {}
        self._zygote: Zygote | None = None
        self._drops: set[asyncio.Task[None]] = set()
        self._transactions = Transactions(name, settings.limits.transactions, settings.limits.transaction_seconds)

    # ------------------------------------------------------------------ hooks

    @hookimpl
    async def xcore_on_load(self, ctx: PluginContext) -> None:
        self._ctx = ctx
        data_dir = os.path.abspath(self.settings.sandbox.data_dir or os.path.join(".xcore", "sandbox", self.name))
        os.makedirs(data_dir, mode=0o700, exist_ok=True)
        if os.geteuid() == 0:
            os.chown(data_dir, 65534, 65534)  # the worker runs as nobody
        host = ctx.handle
        container = getattr(ctx.services, "_container", None)
        limits = self.settings.limits
        self._transactions = Transactions(self.name, limits.transactions, limits.transaction_seconds)
        self._caps = Capabilities(
            self.name,
            self.settings.permissions,
            container,
            self._subscribe,
            self._announce,
            scoped=ctx.services,
            run_job=self.run_sandboxed_job,
            call_plugin=ctx.call,
            transactions=self._transactions,
        )
        self._spawn = Spawn(
            name=self.name,
            data_dir=data_dir,
            timeout=limits.timeout,
            start_timeout=max(limits.timeout, 10.0),
            bootstrap={
                "name": self.name,
                "target": self.target,
                "code_paths": [code_root(self.target)],
                "data_dir": data_dir,
                "timeout": limits.timeout,
                "cpu_seconds": limits.cpu_seconds_per_call,
                "idle_spin_us": self.settings.sandbox.idle_spin_us,
                "limits": limits.model_dump(),
                "require": list(self.settings.sandbox.require),
                "egress": bool(self.settings.permissions.network),
                "config": dict(ctx.config),
                "services": list(ctx.services),
                "databases": database_kinds(container, list(ctx.services)),
            },
        )
        del host
        if hasattr(os, "pidfd_open"):
            self._zygote = zygote_acquire()
        try:
            await self._start()
        except BaseException:
            await self._release_zygote()
            raise

    @hookimpl
    def xcore_get_router(self) -> APIRouter | None:
        return self._router()

    @hookimpl
    async def xcore_handle(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self._live().request({"op": "call", "action": action, "payload": payload})
        return result

    @hookimpl
    async def xcore_health(self) -> dict[str, Any]:
        if self.failed is not None:
            raise WorkerError(f"worker failed: {self.failed}")
        result = await self._live().request({"op": "health"})
        if result is False:
            raise WorkerError("the plugin reports itself unhealthy")
        report = dict(result) if isinstance(result, dict) else {}
        report["sandbox"] = self.sandbox_report()
        return report

    @hookimpl
    async def xcore_on_unload(self) -> None:
        self._stopping = True
        if self._restarting is not None:
            self._restarting.cancel()
        # Event subscriptions made for the worker are owned by this plugin: the host drops them.
        try:
            if self.worker is not None:
                await self.worker.stop(self._spawn.timeout if self._spawn else 5.0)
        finally:
            await self._transactions.close()
            await self._release_zygote()

    async def _release_zygote(self) -> None:
        zygote, self._zygote = self._zygote, None
        if zygote is not None:
            await zygote_release(zygote)

    async def run_sandboxed_job(self, method: str, *args: Any, **kwargs: Any) -> None:
        """What every job of a sandboxed plugin runs: its method ``method``, in the worker."""
        await self._live().request({"op": "job", "method": method, "args": list(args), "kwargs": kwargs})

    # ------------------------------------------------------------------ report

    def sandbox_report(self) -> dict[str, Any]:
        """Granted against wanted permissions, active protections, worker state: ``xcore plugins``, health."""
        hello = self.worker.hello if self.worker is not None else {}
        report: dict[str, Any] = {
            "granted": self.settings.permissions.describe(),
            "wanted": self.wanted.describe() if self.wanted is not None else None,
            "protections": hello.get("protections", {}),
            "pid": self.worker.pid if self.worker is not None and self.worker.alive else None,
            "restarts": self.restarts.total,
            "state": "failed" if self.failed else "running" if self.worker and self.worker.alive else "restarting",
        }
        if self.wanted_error:
            report["wanted_error"] = self.wanted_error
        if self.failed:
            report["error"] = self.failed
        return report

    # ------------------------------------------------------------------ worker life

    def _live(self) -> WorkerProcess:
        if self.failed is not None:
            raise WorkerError(f"sandboxed plugin {self.name!r}: worker failed ({self.failed})")
        if self.worker is None or not self.worker.alive:
            raise WorkerError(f"sandboxed plugin {self.name!r}: worker is restarting")
        return self.worker

    async def _start(self) -> None:
        assert self._spawn is not None
        worker = WorkerProcess(self._spawn, self._on_request, self._on_exit, self._zygote)
        self.worker = worker
        began = time.perf_counter()
        hello = await worker.start()
        self.start_ms = (time.perf_counter() - began) * 1000
        wanted = hello.get("wanted")
        if wanted is not None:
            try:
                self.wanted = Grants.model_validate(wanted)
            except ValueError as exc:
                self.wanted_error = str(exc).splitlines()[0]
        log.info(
            "sandboxed plugin %r: worker pid %s ready in %.0f ms, protections: %s",
            self.name,
            worker.pid,
            self.start_ms,
            ", ".join(hello.get("protections", {}).get("active", {})) or "none",
        )
        for name, reason in hello.get("protections", {}).get("missing", {}).items():
            log.warning("sandboxed plugin %r: protection %r is not active: %s", self.name, name, reason)

    def _on_exit(self, worker: WorkerProcess, reason: str) -> None:
        # Whatever the worker held in the database is rolled back and its connections go back.
        self._drops.add(asyncio.get_running_loop().create_task(self._transactions.drop(worker, reason)))
        self._drops = {task for task in self._drops if not task.done()}
        # A worker that never said hello failed to start: whoever started it handles that.
        if self._stopping or worker is not self.worker or not worker.hello:
            return
        self._crashed(reason)

    def _crashed(self, reason: str) -> None:
        """Restart after a backoff, or give up after too many crashes in a row."""
        delay = self.restarts.record()
        loop = asyncio.get_running_loop()
        if delay is None:
            self.failed = f"worker died {len(self.restarts.times)} times within a minute; last: {reason}"
            log.error("sandboxed plugin %r: %s; not restarted", self.name, self.failed)
            self._background = loop.create_task(
                self._announce(SANDBOX_WORKER_FAILED, {"plugin": self.name, "error": self.failed})
            )
            return
        log.warning("sandboxed plugin %r: worker stopped (%s); restarting in %.1fs", self.name, reason, delay)
        self._restarting = loop.create_task(self._restart(delay))

    async def _restart(self, delay: float) -> None:
        await asyncio.sleep(delay)
        if self._stopping:
            return
        try:
            await self._start()
        except Exception as exc:
            log.error("sandboxed plugin %r: restart failed: %s", self.name, exc)
            self._crashed(f"restart failed: {exc}")

    async def restart(self) -> None:
        """Stop the worker (calling the plugin's ``on_unload``) and start a fresh one."""
        worker, self.worker = self.worker, None
        if worker is not None:
            await worker.stop(self._spawn.timeout if self._spawn else 5.0)
            await self._transactions.drop(worker, "worker restarted")
        await self._start()

    async def wait_running(self, timeout: float = 10.0) -> None:
        """Until a restarted worker serves again (tests and the CLI use it)."""
        async with asyncio.timeout(timeout):
            while self.failed is None and (self.worker is None or not self.worker.alive or not self.worker.hello):
                await asyncio.sleep(0.02)

    # ------------------------------------------------------------------ services for the worker

    async def _on_request(self, header: dict[str, Any], blob: bytes, worker: WorkerProcess) -> tuple[Any, bytes]:
        assert self._caps is not None
        args = header.get("args")
        kwargs = header.get("kwargs")
        return await self._caps.invoke(  # names capped: they reach audit lines and kernel events
            str(header.get("service"))[:MAX_NAME],
            str(header.get("method"))[:MAX_NAME],
            args if isinstance(args, list) else [],
            kwargs if isinstance(kwargs, dict) else {},
            blob,
            owner=worker,
        )

    def _bus(self) -> Any:
        events = self._ctx.events if self._ctx is not None else None
        return getattr(events, "bus", None)

    async def _subscribe(self, pattern: str) -> int:
        view = self._ctx.events if self._ctx is not None else None
        if view is None:
            raise KeyError("the events service is disabled (services.events)")
        number = len(self._subscriptions) + 1

        async def deliver(event: Any) -> None:
            worker = self.worker
            if worker is not None and worker.alive:
                await worker.request(
                    {"op": "event", "sub": number, "name": event.name, "data": event.data, "source": event.source}
                )

        self._subscriptions[number] = view.on(pattern, deliver)
        return number

    async def _announce(self, name: str, data: dict[str, Any]) -> None:
        await announce_on(self._bus(), name, data)

    # ------------------------------------------------------------------ routes

    def _router(self) -> APIRouter | None:
        hello = self.worker.hello if self.worker is not None else {}
        openapi = hello.get("openapi")
        if openapi is None:
            return None
        router = APIRouter()
        paths = openapi.get("paths", {})
        if not isinstance(paths, dict) or len(paths) > MAX_PATHS:
            log.warning(
                "sandboxed plugin %r: OpenAPI fragment ignored (not a mapping, or over %d paths); its "
                "routes are still forwarded",
                self.name,
                MAX_PATHS,
            )
            paths = {}
        for path, operations in paths.items():
            if not isinstance(path, str) or not path.startswith("/") or not isinstance(operations, dict):
                continue
            for method, operation in operations.items():
                if not isinstance(operation, dict):
                    continue
                # the worker's ids are unique within the plugin only: prefixed, they are unique in the host
                operation = {**operation, "operationId": f"{self.name}__{operation.get('operationId', method)}"}
                router.add_api_route(
                    path,
                    self._forwarder(path),
                    methods=[method.upper()],
                    openapi_extra=operation,
                    summary=operation.get("summary"),
                    operation_id=None,
                    name=f"{self.name}:{operation.get('operationId', path)}",
                )
        router.add_api_route(
            "/{rest:path}",
            self._forwarder("/{rest:path}"),
            include_in_schema=False,
            methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"],
        )
        return router

    def _forwarder(self, template: str) -> Any:
        """An endpoint for one route template; the sub-path sent to the worker is the request path's
        last segments, as many as the template has (the catch-all sends its whole ``rest``)."""
        segments = template.count("/")

        async def forward(request: Request) -> Response:
            if template == "/{rest:path}":
                sub = "/" + str(request.path_params.get("rest", ""))
            else:
                raw = request.scope.get("raw_path") or request.url.path.encode()
                sub = "/" + "/".join(raw.decode("latin-1").split("?")[0].split("/")[-segments:])
            return await self._forward(request, sub)

        return forward

    async def _forward(self, request: Request, sub: str) -> Response:
        """Send one HTTP request to the worker; stream its response back."""
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > MAX_BODY:
            return JSONResponse({"detail": f"request body over {MAX_BODY} bytes"}, status_code=413)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return JSONResponse({"detail": f"request body over {MAX_BODY} bytes"}, status_code=413)
        header = {
            "op": "http",
            "method": request.method,
            "path": sub or "/",
            "query": request.url.query,
            "scheme": request.url.scheme,
            "headers": [[k, v] for k, v in request.headers.items()],
        }
        try:
            first, data, rest = await self._live().http(header, bytes(body))
        except (WorkerError, TimeoutError) as exc:
            return JSONResponse({"detail": f"sandboxed plugin {self.name!r} unavailable: {exc}"}, status_code=502)
        if "error" in first:
            return JSONResponse(
                {"detail": f"sandboxed plugin {self.name!r} failed: {first['error'].get('message', '')}"},
                status_code=502,
            )
        # The host frames the response itself: the worker's own length and hop-by-hop headers are
        # dropped, so a plugin cannot make the connection to the client carry a body of another size.
        raw_headers = [
            (k.lower().encode("latin-1"), v.encode("latin-1"))
            for k, v in first.get("headers", [])
            if k.lower() not in _FRAMING_HEADERS
        ]
        status = int(first.get("status", 500))
        if rest is None:
            response = Response(b"" if _bodiless(status) else data, status_code=status)
            response.raw_headers = raw_headers + _length(request.method, status, len(data), first)
            return response

        async def body_chunks() -> AsyncIterator[bytes]:
            if data:
                yield data
            async for chunk in rest:
                yield chunk

        streamed = StreamingResponse(body_chunks(), status_code=status)
        streamed.raw_headers = raw_headers
        return streamed
