"""The host's side of one worker: spawn it, talk to it, restart it, give up on it.

Every request gets a fresh id; its answer is matched only against that id while the caller still
waits, so a late, duplicated or forged answer is dropped (and counted), never delivered to anyone
else. A call's deadline is the plugin's ``limits.timeout`` (the worker cancels the call itself and
answers an error: that call alone fails); a worker that has not answered a second later is stuck
(blocked loop, spin) and is killed. A worker that dies, breaks the framing or is killed fails the
requests in flight with :class:`WorkerError` and is restarted with exponential backoff; after
:data:`MAX_CRASHES` deaths within :data:`CRASH_WINDOW` seconds it is marked failed and reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from xcore._errors import XcoreError
from xcore._observability import tracing
from xcore._sandbox.egress import EgressRelay
from xcore._sandbox.framing import FrameWriter, ProtocolError, encode, open_frames, read_frame
from xcore._sandbox.zygote import ForkedWorker, Zygote

log = logging.getLogger("xcore.sandbox")

WATCH_INTERVAL = 0.1
"""How often the host looks for requests past their deadline (seconds)."""
GRACE = 1.0
"""Seconds past ``limits.timeout`` before a silent worker is declared stuck and killed."""
MAX_CRASHES = 5
MAX_SERVICE_CALLS = 64
"""Service calls one worker may have running in the host at once; more are refused, not queued."""
LOG_LINES_PER_SECOND = 100
MAX_STREAM_FRAMES = 64
"""HTTP response frames buffered per request; a worker past it broke the protocol and is cut off."""
STREAM_HOLD = 8
"""Frames buffered for one streamed response at which the host stops reading from the worker until
the client has taken them: a slow client holds the worker back instead of filling the host's memory."""
CRASH_WINDOW = 60.0
BACKOFF_FIRST = 0.1
BACKOFF_MAX = 5.0

_ID_MASK = 2**53 - 1
"""Request ids stay exact in JSON numbers everywhere."""

Handler = Callable[[dict[str, Any], bytes, "WorkerProcess"], Awaitable[tuple[Any, bytes]]]
"""Runs one service call of a worker (header, blob, the worker asking) and gives its answer."""


class WorkerError(XcoreError, RuntimeError):
    """The worker could not answer: it died, was killed, or is marked failed."""


@dataclass
class Spawn:
    """Everything needed to start one worker."""

    name: str
    bootstrap: dict[str, Any]
    data_dir: str
    timeout: float
    start_timeout: float


class _Stream:
    """An HTTP response arriving in frames: the first (status, headers, first body chunk) resolves
    ``first``; the rest of a streamed body queues up behind it."""

    __slots__ = ("first", "queue")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.first: asyncio.Future[tuple[dict[str, Any], bytes]] = loop.create_future()
        self.queue: asyncio.Queue[tuple[dict[str, Any], bytes]] = asyncio.Queue(MAX_STREAM_FRAMES + 1)

    def put(self, header: dict[str, Any], blob: bytes) -> None:
        if not self.first.done():
            self.first.set_result((header, blob))
        else:
            self.queue.put_nowait((header, blob))

    def fail(self, error: BaseException) -> None:
        """End the response with ``error``; never raises (one slot is kept free for it)."""
        if not self.first.done():
            self.first.set_exception(error)
        elif not self.queue.full():
            self.queue.put_nowait(({"error": {"type": type(error).__name__, "message": str(error)}}, b""))


def _framed(header: dict[str, Any], ident: int, parent: str | None) -> dict[str, Any]:
    """A request's header with its id, and the trace it belongs to when there is one."""
    return {**header, "id": ident} if parent is None else {**header, "id": ident, "tp": parent}


def _last(header: dict[str, Any]) -> bool:
    """Whether a response frame ends its response (an error, or a body part with nothing after it)."""
    return "error" in header or not header.get("more", True)


class WorkerProcess:
    """One worker process and its connection; replaced by a new one on restart."""

    def __init__(
        self,
        spawn: Spawn,
        on_request: Handler,
        on_exit: Callable[[WorkerProcess, str], None],
        zygote: Zygote | None = None,
    ) -> None:
        self.spawn = spawn
        self.zygote = zygote
        self.on_request = on_request
        self.on_exit = on_exit
        self.process: asyncio.subprocess.Process | ForkedWorker | None = None
        self.hello: dict[str, Any] = {}
        self.stray_answers = 0
        self._writer: FrameWriter | None = None
        self._sync_writer: asyncio.StreamWriter | None = None
        self._waiting: dict[int, asyncio.Future[tuple[dict[str, Any], bytes]] | _Stream] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._dead: str | None = None
        self._hello: asyncio.Future[dict[str, Any]] | None = None
        self.egress = EgressRelay(spawn.name, self._send_frame)
        self._serving = 0
        self._deadlines: dict[int, tuple[float, str]] = {}
        self._log_budget = LogBudget(spawn.name)
        self._ids: list[int] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._parents: dict[str, int] = {}
        """The ``traceparent`` of each request in flight to the worker (how many carry it): the only
        ones the worker's service calls may name as their parent (see :meth:`_traced`)."""

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def alive(self) -> bool:
        return self._dead is None and self.process is not None

    async def start(self) -> dict[str, Any]:
        """Spawn, send the bootstrap, wait for the hello; ``WorkerError`` if it does not come."""
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        # The second channel carries the worker's synchronous service calls (the ``sql`` service's
        # sessions), made while its event loop is blocked; one call at a time, in order.
        sync_parent, sync_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        err_read, err_write = os.pipe()
        try:
            if self.zygote is not None:
                self.process = await self.zygote.spawn(child, sync_child, err_write, self.spawn.data_dir)
            else:  # no pidfd on this platform: a fresh interpreter per worker
                self.process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-I",
                    "-m",
                    "xcore._sandbox.worker",
                    str(child.fileno()),
                    str(sync_child.fileno()),
                    pass_fds=(child.fileno(), sync_child.fileno()),
                    env={},
                    cwd=self.spawn.data_dir,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=err_write,
                    start_new_session=True,
                )
        except BaseException:
            os.close(err_read)
            sync_parent.close()
            raise
        finally:
            child.close()
            sync_child.close()
            os.close(err_write)
        self._loop = asyncio.get_running_loop()
        self._hello = self._loop.create_future()
        self._writer = await open_frames(parent, self._dispatch, self._closed)
        sync_reader, self._sync_writer = await asyncio.open_connection(sock=sync_parent, limit=2**16)
        self._track(self._read_sync(sync_reader))
        self._track(self._watch())
        stderr = asyncio.StreamReader()
        await asyncio.get_running_loop().connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(stderr), os.fdopen(err_read, "rb", buffering=0)
        )
        self._track(self._drain_stderr(stderr))
        self._writer.write(encode(self.spawn.bootstrap))
        try:
            async with asyncio.timeout(self.spawn.start_timeout):
                hello = await self._hello
        except TimeoutError:
            await self.kill("did not start")
            raise WorkerError(
                f"sandboxed plugin {self.spawn.name!r}: worker did not start within {self.spawn.start_timeout:g}s"
            ) from None
        if "error" in hello:
            await self.kill("failed to load")
            raise WorkerError(f"sandboxed plugin {self.spawn.name!r}: {hello['error']}")
        self.hello = hello
        return hello

    def _send_frame(self, header: dict[str, Any], blob: bytes) -> None:
        if self._writer is not None and self._dead is None:
            self._writer.write(encode(header, blob))

    def _track(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drain_stderr(self, stream: asyncio.StreamReader) -> None:
        """The worker's stderr, logged in bounded pieces (a plugin cannot flood the host's memory)."""
        with contextlib.suppress(Exception):
            while chunk := await stream.read(4096):
                if not self._log_budget.take():
                    continue
                log.warning(
                    "sandboxed plugin %r stderr: %s", self.spawn.name, chunk.decode("utf-8", "replace").rstrip()
                )

    def _closed(self, reason: str) -> None:
        self._die("worker closed its connection" if reason == "peer closed the connection" else reason)

    def _dispatch(self, header: dict[str, Any], blob: bytes) -> None:
        if "re" in header:
            self._answer(header, blob)
            return
        self._request(header, blob)

    def _answer(self, header: dict[str, Any], blob: bytes) -> None:
        """A frame answering one of our calls: to its caller if it still waits, else dropped and counted."""
        ident = header["re"]
        waiting = self._waiting.get(ident) if isinstance(ident, int) else None
        if isinstance(waiting, _Stream):
            if waiting.queue.qsize() >= MAX_STREAM_FRAMES:
                self._die(f"protocol violation: over {MAX_STREAM_FRAMES} unread response frames")
                return
            self._deadlines.pop(ident, None)
            waiting.put(header, blob)
            if _last(header):
                self._waiting.pop(ident, None)
            elif waiting.queue.qsize() >= STREAM_HOLD and self._writer is not None:
                self._writer.protocol.hold(waiting)
        elif waiting is not None and not waiting.done():
            self._waiting.pop(ident, None)
            waiting.set_result((header, blob))
        else:
            self.stray_answers += 1
            log.log(
                logging.WARNING if self.stray_answers == 1 else logging.DEBUG,
                "sandboxed plugin %r answered request %r, which is not waiting (late or duplicate answer dropped)",
                self.spawn.name,
                ident,
            )

    def _request(self, header: dict[str, Any], blob: bytes) -> None:
        """A frame the worker sends on its own: hello, a log line, egress data, a service call."""
        op = header.get("op")
        if op == "hello" and self._hello is not None and not self._hello.done():
            self._hello.set_result(header)
        elif op == "log":
            level = header.get("level")
            if not self._log_budget.take():
                return
            log.log(
                level if isinstance(level, int) and 0 < level <= 50 else logging.INFO,
                "[%s] %s",
                self.spawn.name,
                str(header.get("message"))[:4000],
            )
        elif op in ("net.data", "net.close"):
            self.egress.data(header, blob)
        elif op == "service" and isinstance(header.get("id"), int):
            if self._serving >= MAX_SERVICE_CALLS:
                self._send_frame(
                    {
                        "re": header["id"],
                        "error": {
                            "type": "PermissionError",
                            "message": f"over {MAX_SERVICE_CALLS} service calls in flight; wait for some to finish",
                        },
                    },
                    b"",
                )
                return
            self._serving += 1  # counted from arrival: buffered frames cannot pile up tasks unbounded
            self._track(self._serve(header, blob))
        else:
            log.warning("sandboxed plugin %r sent an unknown frame (op %r); ignored", self.spawn.name, op)

    def _send_parent(self, header: dict[str, Any]) -> str | None:
        """The current span's ``traceparent``, counted as in flight to the worker (tracing on)."""
        parent = tracing.traceparent()
        if parent is not None:
            self._parents[parent] = self._parents.get(parent, 0) + 1
        return parent

    def _parent_done(self, parent: str) -> None:
        left = self._parents.get(parent, 1) - 1
        if left:
            self._parents[parent] = left
        else:
            self._parents.pop(parent, None)

    async def _traced(self, header: dict[str, Any], blob: bytes) -> bytes:
        """:meth:`_service_answer` inside the trace of the request the worker is serving, when the
        call names one still in flight to it (a worker cannot attach its calls to any other trace)."""
        parent = header.get("tp")
        if tracing.TRACER is None or not isinstance(parent, str) or parent not in self._parents:
            return await self._service_answer(header, blob)
        from opentelemetry import context

        token = context.attach(tracing.remote_context(parent))
        try:
            return await self._service_answer(header, blob)
        finally:
            context.detach(token)

    async def _serve(self, header: dict[str, Any], blob: bytes) -> None:
        frame = await self._traced(header, blob)
        if self._writer is not None and self._dead is None:
            self._writer.write(frame)

    async def _read_sync(self, reader: asyncio.StreamReader) -> None:
        """The synchronous channel: one service call at a time, answered in order."""
        try:
            while (frame := await read_frame(reader)) is not None:
                header, blob = frame
                if header.get("op") != "service" or not isinstance(header.get("id"), int):
                    raise ProtocolError(f"unexpected frame on the synchronous channel (op {header.get('op')!r})")
                self._serving += 1
                answer = await self._traced(header, blob)
                if self._sync_writer is not None and self._dead is None:
                    self._sync_writer.write(answer)
        except ProtocolError as exc:
            self._die(f"protocol violation: {exc}")
        except (ConnectionError, OSError) as exc:
            self._die(f"connection lost: {exc}")

    async def _service_answer(self, header: dict[str, Any], blob: bytes) -> bytes:
        """Run one service call (counted in ``_serving`` by the caller); its answer frame."""
        ident = header["id"]
        try:
            result, data = await self.on_request(header, blob, self)
            if header.get("service") == "network":  # granted by the capability check: connect now
                result = await self.egress.open(str(result[0]), int(result[1]))
            answer: dict[str, Any] = {"re": ident, "ok": result}
        except Exception as exc:
            answer, data = {"re": ident, "error": {"type": _error_type(exc), "message": str(exc)}}, b""
        finally:
            self._serving -= 1
        try:
            return encode(answer, data)
        except Exception as exc:
            return encode({"re": ident, "error": {"type": "ValueError", "message": str(exc)}})

    def _die(self, reason: str) -> None:
        if self._dead is not None:
            return
        self._dead = reason
        for waiting in self._waiting.values():  # fail() and a not-done future's set_exception never raise
            error = WorkerError(f"sandboxed plugin {self.spawn.name!r}: worker stopped ({reason})")
            if isinstance(waiting, _Stream):
                waiting.fail(error)
            elif not waiting.done():
                waiting.set_exception(error)
        self._waiting.clear()
        self.egress.close()
        if self._hello is not None and not self._hello.done():
            self._hello.set_result({"error": f"worker exited before starting ({reason})"})
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, 9)
        self.on_exit(self, reason)

    def _new_id(self) -> int:
        """A random id: a worker cannot answer a request before it has been sent the request's id.

        Drawn from the kernel's generator 256 ids at a time (one system call, not one per call)."""
        while True:
            if not self._ids:
                pool = os.urandom(8 * 256)
                self._ids = [n & _ID_MASK for n in struct.unpack("!256Q", pool)]
            ident = self._ids.pop()
            if ident not in self._waiting:
                return ident

    async def request(self, header: dict[str, Any], blob: bytes = b"", timeout: float | None = None) -> Any:
        """Send a request and wait for its answer; the worker's error is raised as ``WorkerError``."""
        loop = self._loop  # kept: get_running_loop() is a getpid() system call on Python 3.11
        if self._dead is not None or self._writer is None or loop is None:
            raise WorkerError(f"sandboxed plugin {self.spawn.name!r}: worker is not running ({self._dead})")
        ident = self._new_id()
        future: asyncio.Future[tuple[dict[str, Any], bytes]] = loop.create_future()
        self._waiting[ident] = future
        limit = (self.spawn.timeout if timeout is None else timeout) + GRACE
        self._deadlines[ident] = (loop.time() + limit, str(header.get("op")))
        parent = self._send_parent(header) if tracing.TRACER is not None else None
        try:
            self._writer.write(encode(_framed(header, ident, parent), blob))
            answer, _ = await future
        finally:
            self._waiting.pop(ident, None)
            self._deadlines.pop(ident, None)
            if parent is not None:
                self._parent_done(parent)
        if "error" in answer:
            error = answer["error"] if isinstance(answer["error"], dict) else {"message": str(answer["error"])}
            raise _rebuild(error, self.spawn.name)
        return answer.get("ok")

    async def _watch(self) -> None:
        """Fail a request past its deadline with ``TimeoutError`` and kill the stuck worker.

        One timer per worker, not one per call: the check runs every :data:`WATCH_INTERVAL` seconds.
        """
        loop = asyncio.get_running_loop()
        while self._dead is None:
            await asyncio.sleep(WATCH_INTERVAL)
            now = loop.time()
            for ident, (deadline, op) in list(self._deadlines.items()):
                if deadline > now:
                    continue
                future = self._waiting.pop(ident, None)
                error = TimeoutError(
                    f"sandboxed plugin {self.spawn.name!r}: {op} did not answer within "
                    f"{self.spawn.timeout:g}s (limits.timeout); the worker was restarted"
                )
                if isinstance(future, _Stream):
                    future.fail(error)
                elif future is not None and not future.done():
                    future.set_exception(error)
                await self.kill(f"request {op} unanswered past its deadline")
                return

    async def http(
        self, header: dict[str, Any], blob: bytes
    ) -> tuple[dict[str, Any], bytes, AsyncIterator[bytes] | None]:
        """Send an HTTP request; its first response frame (status, headers, first body chunk) and,
        for a body the worker streams, an iterator over the rest (``None`` when the first frame holds
        it all, the usual case: one frame each way, no stream to set up).

        The first frame is awaited on a plain future under the per-worker deadline watch, like
        :meth:`request`; each later chunk must come within ``limits.timeout`` or the worker is killed.
        """
        loop = self._loop
        if self._dead is not None or self._writer is None or loop is None:
            raise WorkerError(f"sandboxed plugin {self.spawn.name!r}: worker is not running ({self._dead})")
        ident = self._new_id()
        stream = _Stream(loop)
        self._waiting[ident] = stream
        self._deadlines[ident] = (loop.time() + self.spawn.timeout + GRACE, "HTTP request")
        parent = self._send_parent(header) if tracing.TRACER is not None else None
        try:
            self._writer.write(encode(_framed(header, ident, parent), blob))
            first, data = await stream.first
        except BaseException:
            self._waiting.pop(ident, None)
            self._deadlines.pop(ident, None)
            if parent is not None:
                self._parent_done(parent)
            raise
        if not _last(first):  # a streamed body: the worker's calls while it streams stay in the trace
            return first, data, self._rest(ident, stream, parent)
        if parent is not None:
            self._parent_done(parent)
        return first, data, None

    async def _rest(self, ident: int, stream: _Stream, parent: str | None) -> AsyncIterator[bytes]:
        """The body chunks after the first frame; ends quietly at an error (the response is cut)."""
        try:
            while True:
                try:
                    async with asyncio.timeout(self.spawn.timeout + GRACE):
                        header, data = await stream.queue.get()
                except TimeoutError:
                    await self.kill(f"HTTP request {ident} stopped sending its body")
                    return
                if self._writer is not None and stream.queue.qsize() < STREAM_HOLD // 2:
                    self._writer.protocol.release(stream)
                if "error" in header:
                    return
                if data:
                    yield data
                if _last(header):
                    return
        finally:
            self._waiting.pop(ident, None)
            if self._writer is not None:
                self._writer.protocol.release(stream)
            if parent is not None:
                self._parent_done(parent)

    async def kill(self, reason: str) -> None:
        """Kill the whole process group now; in-flight requests fail with ``WorkerError``."""
        self._die(f"killed: {reason}")
        await self.wait()

    async def wait(self) -> None:
        if self.process is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.process.wait(), 5)
        for writer in (self._writer, self._sync_writer):
            if writer is not None:
                writer.close()
        for task in list(self._tasks):
            if task is not asyncio.current_task():
                task.cancel()

    async def stop(self, timeout: float) -> None:
        """Ask the plugin to unload, then end the process (killed if it does not exit in time)."""
        if self.alive:
            with contextlib.suppress(Exception):
                await self.request({"op": "unload"}, timeout=timeout)
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.process.wait(), 1.0)
        self._die("stopped")
        await self.wait()


def _error_type(exc: BaseException) -> str:
    """The name the worker raises ``exc`` as: its nearest built-in class the worker knows (an
    ``XcoreError`` such as ``PluginNotFoundError`` arrives as ``LookupError``), else its own name."""
    from xcore._sandbox.remote import ERRORS

    for kind in type(exc).__mro__:
        if kind.__name__ in ERRORS and kind is ERRORS[kind.__name__]:
            return kind.__name__
    return type(exc).__name__


class PluginCallError(XcoreError, RuntimeError):
    """An exception raised by the sandboxed plugin's own code, as the worker reported it."""


def _rebuild(error: dict[str, Any], plugin: str) -> Exception:
    from xcore.sdk._responses import ActionNotFound

    kind = str(error.get("type"))
    message = str(error.get("message", ""))
    if kind == "ActionNotFound":
        exc = ActionNotFound(plugin, "?")
        exc.args = (message,)
        return exc
    known: dict[str, type[Exception]] = {
        "PermissionError": PermissionError,
        "TimeoutError": TimeoutError,
        "WorkerError": WorkerError,
        "LookupError": LookupError,
    }
    return known.get(kind, PluginCallError)(f"{kind}: {message}" if kind not in known else message)


class LogBudget:
    """At most :data:`LOG_LINES_PER_SECOND` log lines a second from one worker; the rest are counted
    and dropped, so a plugin cannot fill the host's logs or disk."""

    def __init__(self, plugin: str) -> None:
        self.plugin = plugin
        self.dropped = 0
        self._second = 0
        self._used = 0

    def take(self) -> bool:
        second = int(time.monotonic())
        if second != self._second:
            if self.dropped:
                log.warning(
                    "sandboxed plugin %r: %d log lines dropped (over %d a second)",
                    self.plugin,
                    self.dropped,
                    LOG_LINES_PER_SECOND,
                )
            self._second, self._used, self.dropped = second, 0, 0
        self._used += 1
        if self._used > LOG_LINES_PER_SECOND:
            self.dropped += 1
            return False
        return True


@dataclass
class Restarts:
    """Crash bookkeeping: backoff between restarts, failure after too many crashes in a window."""

    times: list[float] = field(default_factory=list)
    total: int = 0

    def record(self) -> float | None:
        """Note a crash; the delay before the next start, or ``None`` when the worker must be given up."""
        now = time.monotonic()
        self.times = [t for t in self.times if now - t < CRASH_WINDOW] + [now]
        self.total += 1
        if len(self.times) > MAX_CRASHES:
            return None
        return float(min(BACKOFF_FIRST * 2 ** (len(self.times) - 1), BACKOFF_MAX))
