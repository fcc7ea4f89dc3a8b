"""The worker process: ``python -I -m xcore._sandbox.worker FD`` runs one sandboxed plugin.

Started by the host with an empty environment, the plugin's own folder as working directory and one
end of a socketpair as ``FD``. It reads the bootstrap frame, imports what it needs, puts up the
walls (:mod:`xcore._sandbox.confine`), and only then imports the plugin: the plugin's module-level
code already runs confined. Then it serves the host's requests (actions, HTTP, health, events,
unload) concurrently, each under its own request id, and sends its own requests (service calls)
the same way. Any error in a request is answered as an error frame; it never ends the worker.
"""

from __future__ import annotations

import asyncio
import contextvars
import importlib
import inspect
import logging
import os
import resource
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import pluggy

from xcore import _hookspecs as hookspecs
from xcore._events.marks import subscribe_marked
from xcore._sandbox import confine
from xcore._sandbox.egress import PROXY_PORT, EgressProxy
from xcore._sandbox.framing import CHUNK, FrameWriter, ProtocolError, encode, open_frames, read_frame_blocking
from xcore._sandbox.remote import RemoteEvents, RemoteServices, raise_remote
from xcore.sdk._context import PluginContext, PluginHandle


def _read_bootstrap(sock: socket.socket) -> dict[str, Any]:
    """The host's first frame; the worker exits (code 3) if the host is gone before sending it."""
    try:
        return read_frame_blocking(sock)[0]
    except ProtocolError:
        raise SystemExit(3) from None


TRACE_PARENT: contextvars.ContextVar[str | None] = contextvars.ContextVar("xcore_sandbox_trace", default=None)
"""The W3C ``traceparent`` of the host's span that sent the request being served (``tp``); the
worker's own calls to the host carry it back, so the host's spans for them join the same trace.
Tasks the plugin starts copy it; the worker itself needs no OpenTelemetry."""

WATCH_INTERVAL = 0.05
"""How often the worker looks for calls past their deadline (seconds)."""


class CpuBudget:
    """``cpu_seconds_per_call``: before each call, the soft ``RLIMIT_CPU`` is moved to "now + budget".

    A call that burns its budget without another call starting gets ``SIGXCPU`` and the worker
    dies; the host fails the calls in flight and restarts it.
    """

    def __init__(self, seconds: int | None) -> None:
        self.seconds = seconds
        self._renewed = -1.0

    def renew(self) -> None:
        # At most twice a second: since then the process burnt at most ~0.5 s of CPU, so the limit set
        # then (usage + budget + 1 s) still leaves every new call at least its whole budget.
        now = time.monotonic()
        if self.seconds is None or now - self._renewed < 0.5:
            return
        self._renewed = now
        used = resource.getrusage(resource.RUSAGE_SELF)
        soft = int(used.ru_utime + used.ru_stime) + self.seconds + 1
        current, hard = resource.getrlimit(resource.RLIMIT_CPU)
        if current == resource.RLIM_INFINITY or soft > current:
            resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


class Worker:
    """Serves one plugin over one connection."""

    def __init__(
        self,
        boot: dict[str, Any],
        walls: confine.Walls,
        sync_sock: socket.socket | None = None,
    ) -> None:
        self.boot = boot
        self.sync_sock = sync_sock
        self._sync_lock = threading.Lock()
        self._sync_id = 0
        self.writer: FrameWriter  # set by ``_main`` once the connection serves this worker
        # The loop, kept: on Python 3.11 every ``asyncio.get_running_loop()`` costs a getpid() system
        # call, several per call on the hot path otherwise.
        self.loop = asyncio.get_running_loop()
        self.closed: asyncio.Future[str] = self.loop.create_future()
        self.walls = walls
        self.name: str = boot["name"]
        self.timeout: float = float(boot["timeout"])
        self.cpu = CpuBudget(boot.get("cpu_seconds"))
        self._next_id = 0
        self._waiting: dict[int, asyncio.Future[tuple[dict[str, Any], bytes]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._deadlines: dict[asyncio.Task[Any], float] = {}
        self._expired: set[asyncio.Task[Any]] = set()
        self.events = RemoteEvents(self.request)
        self.hooks: Any = None
        self.app: Any = None
        self.instance: Any = None
        self.trusted_base = False
        self.ctx: PluginContext | None = None
        self.egress: EgressProxy | None = None
        self.watchdog_task: asyncio.Task[None] | None = None
        self.spin_seconds = int(boot.get("idle_spin_us", 0)) / 1e6
        self.peek: socket.socket | None = None
        """A second descriptor of the host's socket, only ever peeked at (:meth:`spin`)."""

    # ------------------------------------------------------------------ talking to the host

    def send(self, header: dict[str, Any], blob: bytes = b"") -> None:
        self.writer.write(encode(header, blob))

    async def request(self, header: dict[str, Any], blob: bytes) -> tuple[Any, bytes]:
        """Send a request to the host and wait for its answer (raising the error it carries)."""
        self._next_id += 1
        ident = self._next_id
        future: asyncio.Future[tuple[dict[str, Any], bytes]] = self.loop.create_future()
        self._waiting[ident] = future
        if (parent := TRACE_PARENT.get()) is not None:
            header = {**header, "tp": parent}
        try:
            self.send({**header, "id": ident}, blob)
            answer, data = await future
        finally:
            self._waiting.pop(ident, None)
        if "error" in answer:
            raise_remote(answer["error"])
        return answer.get("ok"), data

    def request_sync(self, header: dict[str, Any], blob: bytes) -> tuple[Any, bytes]:
        """A synchronous service call (the ``sql`` service): blocks the calling thread, the event
        loop's included, until the host answers on the synchronous channel; one call at a time.

        After a timeout the channel's framing can no longer be trusted: it is closed, and every
        later synchronous call fails at once (asynchronous calls still work).
        """
        with self._sync_lock:
            sock = self.sync_sock
            if sock is None:
                raise TimeoutError("the synchronous service channel is closed (an earlier call timed out)")
            self._sync_id += 1
            ident = self._sync_id
            if (parent := TRACE_PARENT.get()) is not None:
                header = {**header, "tp": parent}
            try:
                sock.settimeout(self.timeout)
                sock.sendall(encode({**header, "id": ident}, blob))
                while True:
                    answer, data = read_frame_blocking(sock)
                    if answer.get("re") == ident:
                        break
            except (TimeoutError, OSError, ProtocolError) as exc:
                self.sync_sock = None
                sock.close()
                raise TimeoutError(f"synchronous service call failed: {exc or 'timed out'}") from None
        if "error" in answer:
            raise_remote(answer["error"])
        return answer.get("ok"), data

    # ------------------------------------------------------------------ loading

    async def load(self) -> dict[str, Any]:
        from xcore._plugins import PluginHooks
        from xcore.sdk._base import TrustedBase

        module_name, _, attr = self.boot["target"].partition(":")
        obj: Any = importlib.import_module(module_name)
        for part in attr.split(".") if attr else ():
            obj = getattr(obj, part)
        if isinstance(obj, type):
            obj = obj()
        self.instance = obj
        self.trusted_base = isinstance(obj, TrustedBase)
        pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        pm.add_hookspecs(hookspecs)
        pm.register(obj, name=self.name)
        self.hooks = PluginHooks.index(pm).get(self.name, PluginHooks())
        services = RemoteServices(
            list(self.boot.get("services", [])),
            self.request,
            self.events,
            databases=self.boot.get("databases") or {},
            sync_request=self.request_sync,
        )
        handle = PluginHandle(self.name, obj)
        logger = logging.getLogger(f"xcore.plugin.{self.name}")

        async def call(plugin: str, action: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
            """``ctx.call`` in a sandbox: the host runs it if ``plugins: {call: [...]}`` grants it."""
            result, _ = await self.request(
                {"op": "service", "service": "plugins", "method": "call", "args": [plugin, action, payload]}, b""
            )
            return dict(result) if isinstance(result, dict) else {"result": result}

        self.ctx = PluginContext(
            name=self.name,
            config=dict(self.boot.get("config", {})),
            services=services,
            logger=logger,
            call=call,
            events=self.events,
            handle=handle,
        )
        subscribe_marked(self.events, obj)
        await self.hooks.call("xcore_on_load", ctx=self.ctx)
        await self.events.flush()
        router = await self.hooks.call("xcore_get_router", ctx=self.ctx)
        openapi = None
        if router is not None:
            from fastapi import FastAPI

            from xcore._observability.tracing import fastapi_telemetry
            from xcore._plugin_routes import mount_plugin_router

            # Declared directly, as the host declares a trusted plugin's routes: no lazy included router.
            self.app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, **fastapi_telemetry())
            mount_plugin_router(self.app, router, "", None)
            openapi = _inline_openapi(self.app.openapi())
        wanted = getattr(obj, "permissions", None)
        return {
            "wanted": list(wanted) if isinstance(wanted, list | tuple) else None,
            "openapi": openapi,
            "actions": "xcore_handle" in self.hooks,
            "is_trusted_base": isinstance(obj, TrustedBase),
        }

    # ------------------------------------------------------------------ serving

    def on_frame(self, header: dict[str, Any], blob: bytes) -> None:
        """One frame from the host, handled in the loop's callback: an answer wakes its caller, a
        request starts a task of its own (many calls run at once)."""
        if "re" in header:
            future = self._waiting.get(header["re"])
            if future is not None and not future.done():
                future.set_result((header, blob))
            return
        if header.get("op") in ("net.data", "net.close"):
            if self.egress is not None:
                self.egress.data(header, blob)
            return
        task = self.loop.create_task(self.dispatch(header, blob))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def spin(self) -> None:
        """After an answer, an idle worker watches its socket for ``sandbox.idle_spin_us`` before
        its loop sleeps in the kernel.

        Waking a process that sleeps on another CPU of a virtual machine takes tens of microseconds,
        the largest part of a round trip; a caller's next request usually comes sooner than that and
        then finds the worker awake (the round trip p50 fell by about a third in
        ``benchmarks/bench_sandbox.py``). Only while nothing else of the worker runs (no call, no
        request to the host in flight), bounded, and yielding the CPU on each turn, so a host waiting
        for this CPU runs first and a plugin's timers are late by at most the spin.
        """
        peek = self.peek
        if peek is None or self._waiting or any(not task.done() for task in self._tasks):
            return
        clock = time.perf_counter
        end = clock() + self.spin_seconds
        while clock() < end:
            try:
                peek.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            except BlockingIOError:
                os.sched_yield()
                continue
            except OSError:
                return
            return  # data, or the end of the stream: the loop's next poll returns at once

    def on_close(self, reason: str) -> None:
        if self.peek is not None:
            self.peek.close()
            self.peek = None
        if not self.closed.done():
            self.closed.set_result(reason)

    async def serve(self) -> None:
        """Until the host's connection ends; ``ProtocolError`` if it ended by a protocol violation."""
        reason = await self.closed
        if reason.startswith("protocol violation"):
            raise ProtocolError(reason)

    async def watchdog(self) -> None:
        """Cancel calls past ``limits.timeout``: one timer for all calls instead of one per call.

        A call that does not yield (a blocked loop, a spin) is not reached here; the host kills the
        worker when its own deadline passes.
        """
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            now = loop.time()
            for task, deadline in list(self._deadlines.items()):
                if deadline <= now:
                    del self._deadlines[task]
                    self._expired.add(task)
                    task.cancel()

    async def dispatch(self, header: dict[str, Any], blob: bytes) -> None:
        ident = header.get("id")
        op = header.get("op")
        if isinstance(parent := header.get("tp"), str):
            TRACE_PARENT.set(parent)  # this task's own context
        try:
            if op == "http":
                await self.http(ident, header, blob)
                return
            self.cpu.renew()
            task = asyncio.current_task(self.loop)
            assert task is not None
            self._deadlines[task] = self.loop.time() + self.timeout
            try:
                result = await self.run(op, header)
            except asyncio.CancelledError:
                if task not in self._expired:
                    raise
                self._expired.discard(task)
                task.uncancel()
                raise TimeoutError from None
            finally:
                self._deadlines.pop(task, None)
            self.send({"re": ident, "ok": result})
        except TimeoutError:
            self.send(
                {
                    "re": ident,
                    "error": {
                        "type": "TimeoutError",
                        "message": f"{op} did not finish within {self.timeout:g}s (limits.timeout)",
                    },
                }
            )
        except Exception as exc:  # answered to the host, which shows it to the caller
            self.send(
                {
                    "re": ident,
                    "error": {
                        "type": type(exc).__name__,
                        "message": str(exc),
                        "trace": traceback.format_exc(limit=5)[-2000:],
                    },
                }
            )
        if op == "unload":
            await self.writer.drain()
            os._exit(0)  # nothing of the plugin's may outlive its unload

    async def run(self, op: Any, header: dict[str, Any]) -> Any:
        if op == "call" and self.trusted_base:  # the class-based face: no hook frame, as in the host
            return await self.instance.handle(header["action"], header.get("payload") or {})
        if op == "call":
            if self.hooks is None or "xcore_handle" not in self.hooks:
                raise LookupError(f"plugin {self.name!r} has no actions (it does not implement handle)")
            return await self.hooks.call(
                "xcore_handle", ctx=self.ctx, action=header["action"], payload=header.get("payload") or {}
            )
        if op == "health":
            return await self.hooks.call("xcore_health", ctx=self.ctx)
        if op == "event":
            from xcore._events.event import Event

            handler = self.events.handlers.get(int(header["sub"]))
            if handler is None:
                return None
            result = handler(Event(header["name"], header.get("data"), header.get("source")))
            if inspect.isawaitable(result):
                result = await result
            return None
        if op == "unload":
            await self.hooks.call("xcore_on_unload", ctx=self.ctx)
            return None
        if op == "ping":
            return "pong"
        if op == "job":
            result = getattr(self.instance, str(header["method"]))(*header.get("args", []), **header.get("kwargs", {}))
            if inspect.isawaitable(result):
                result = await result
            return None
        raise ValueError(f"unknown request {op!r}")

    async def http(self, ident: Any, header: dict[str, Any], body: bytes) -> None:
        """Run one HTTP request through the plugin's router; stream the response back in frames."""
        if self.app is None:
            self.send(
                {
                    "re": ident,
                    "http": "start",
                    "status": 404,
                    "headers": [["content-type", "application/json"]],
                    "more": False,
                },
                b'{"detail":"Not Found"}',
            )
            return
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": header["method"],
            "scheme": header.get("scheme", "http"),
            "path": header["path"],
            "raw_path": header["path"].encode(),
            "query_string": header.get("query", "").encode(),
            "root_path": "",
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in header.get("headers", [])],
            "client": None,
            "server": None,
        }
        sent_body = False
        disconnected = asyncio.Event()

        async def receive() -> dict[str, Any]:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            await disconnected.wait()
            return {"type": "http.disconnect"}

        start: dict[str, Any] | None = None

        async def send(message: dict[str, Any]) -> None:
            # The start travels with the first body part: a whole response is one frame.
            nonlocal start
            if message["type"] == "http.response.start":
                headers = [[k.decode("latin-1"), v.decode("latin-1")] for k, v in message.get("headers", [])]
                start = {"re": ident, "http": "start", "status": message["status"], "headers": headers}
            elif message["type"] == "http.response.body":
                data = message.get("body", b"")
                more = message.get("more_body", False)
                for offset in range(0, max(len(data), 1), CHUNK):
                    frame = start if start is not None else {"re": ident, "http": "body"}
                    start = None
                    frame["more"] = more or offset + CHUNK < len(data)
                    self.send(frame, data[offset : offset + CHUNK])
                if more:
                    await self.writer.drain()

        try:
            self.cpu.renew()
            await self.app(scope, receive, send)
            if start is not None:  # a start with no body after it: an empty response
                start["more"] = False
                self.send(start)
        except Exception as exc:
            self.send({"re": ident, "error": {"type": type(exc).__name__, "message": str(exc)}})
        finally:
            disconnected.set()


def _inline_openapi(spec: dict[str, Any]) -> dict[str, Any]:
    """The ``paths`` of the worker's OpenAPI document with ``$ref`` to its components inlined."""
    schemas = spec.get("components", {}).get("schemas", {})

    def inline(value: Any, depth: int) -> Any:
        if isinstance(value, dict):
            ref = value.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/") and depth < 8:
                target = schemas.get(ref.rsplit("/", 1)[-1], {})
                return inline(target, depth + 1)
            return {k: inline(v, depth) for k, v in value.items()}
        if isinstance(value, list):
            return [inline(v, depth) for v in value]
        return value

    return {"paths": inline(spec.get("paths", {}), 0)}


class _FrameLogHandler(logging.Handler):
    """Sends the plugin's log records to the host, which logs them under ``xcore.sandbox.<name>``."""

    def __init__(self, send: Callable[[dict[str, Any]], None]) -> None:
        super().__init__()
        self._send = send

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._send({"op": "log", "level": record.levelno, "message": self.format(record)[:4000]})
        except Exception:
            self.handleError(record)


async def _main(
    sock: socket.socket, boot: dict[str, Any], walls: confine.Walls, sync_sock: socket.socket | None
) -> None:
    worker = Worker(boot, walls, sync_sock)
    worker.writer = writer = await open_frames(sock, worker.on_frame, worker.on_close)
    if worker.spin_seconds > 0:
        worker.peek = socket.socket(fileno=os.dup(sock.fileno()))
        writer.after_flush = worker.spin
    root = logging.getLogger()
    root.handlers[:] = [_FrameLogHandler(worker.send)]
    root.setLevel(logging.INFO)
    server = asyncio.create_task(worker.serve())
    worker.watchdog_task = asyncio.create_task(worker.watchdog())
    if walls.egress_port is not None:
        worker.egress = EgressProxy(worker.request, worker.send)
        await worker.egress.start()
    try:
        loaded = await worker.load()
    except BaseException as exc:
        worker.send({"op": "hello", "error": f"{type(exc).__name__}: {exc}", "protections": confine.as_report(walls)})
        await writer.drain()
        raise SystemExit(4) from None
    worker.send({"op": "hello", "protections": confine.as_report(walls), **loaded})
    try:
        await server
    except ProtocolError:
        raise SystemExit(5) from None


def run(fd: int, sync_fd: int | None = None) -> None:
    """Serve one plugin on the protocol socket ``fd`` and the synchronous channel ``sync_fd``
    (forked by the zygote, or run by :func:`main`)."""
    sock = socket.socket(fileno=fd)
    sync_sock = socket.socket(fileno=sync_fd) if sync_fd is not None else None
    boot = _read_bootstrap(sock)
    # Imported before the walls go up: the plugin's usual imports cost no filesystem grant.
    import fastapi  # noqa: F401
    import pydantic  # noqa: F401

    import xcore._events.event
    import xcore._plugins
    import xcore.sdk  # noqa: F401

    limits = boot["limits"]
    walls = confine.Walls(
        read_only=sorted({*confine.code_paths(), *boot["code_paths"]}),
        data_dir=boot["data_dir"],
        memory_mb=limits["memory_mb"],
        cpu_seconds=limits["cpu_seconds_per_call"],
        open_files=limits["open_files"],
        processes=limits["processes"],
        egress_port=PROXY_PORT if boot.get("egress") else None,
    )
    confine.build(walls)
    refused = confine.refusal(walls, boot.get("require", []))
    if refused is not None:
        import json
        import struct

        header = json.dumps({"op": "hello", "error": refused, "protections": confine.as_report(walls)}).encode()
        sock.sendall(struct.pack("!II", len(header), len(header)) + header)
        raise SystemExit(6)
    os.chdir(boot["data_dir"])
    sys.path[:0] = boot["code_paths"]
    if walls.egress_port is not None:
        proxy = f"http://127.0.0.1:{walls.egress_port}"
        for variable in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
            os.environ[variable] = proxy
    _event_loop_policy()
    asyncio.run(_main(sock, boot, walls, sync_sock))


def _event_loop_policy() -> None:
    """uvloop when installed (``uvicorn[standard]`` brings it): the worker's loop then costs about
    half as much per frame, which is most of a round trip. Imported after the walls: the module is
    on a read-only code path."""
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def main() -> None:
    run(int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else None)


if __name__ == "__main__":
    main()
