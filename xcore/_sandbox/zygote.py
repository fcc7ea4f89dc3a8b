"""Fast worker start: one pre-warmed process per host forks every worker.

Starting Python and importing FastAPI and pydantic costs about half a second on a busy machine, more
than the worker's whole start budget. So the host starts one *zygote* (``python -I -m
xcore._sandbox.zygote FD``, empty environment) that imports those once and then only forks: the
host sends it the worker's socket and stderr pipe (``SCM_RIGHTS``) with the working directory,
and the forked child becomes the worker (:func:`xcore._sandbox.worker.run`), putting up its own
walls before it imports the plugin. The zygote itself never runs plugin code, holds no secret
(empty environment, nothing read from the host) and is reached only through the host's socketpair.

The host watches each worker through a ``pidfd`` (it is the zygote's child, not the host's), kills
its process group like any worker, and replaces a zygote that died.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import json
import os
import signal
import socket
import struct
import sys
from typing import Any

_PID = struct.Struct("!q")


class ForkedWorker:
    """A worker forked by the zygote: its pid, and its end watched through a pidfd."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._exited = asyncio.get_running_loop().create_future()
        try:
            self._pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            self._pidfd = -1
            self._mark()
            return
        asyncio.get_running_loop().add_reader(self._pidfd, self._mark)

    def _mark(self) -> None:
        if self._pidfd >= 0:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = -1
        self.returncode = -1 if self.returncode is None else self.returncode
        if not self._exited.done():
            self._exited.set_result(None)

    async def wait(self) -> int:
        await self._exited
        return self.returncode if self.returncode is not None else -1


class Zygote:
    """The host's handle on its zygote process (one per event loop, shared by the sandboxed plugins)."""

    def __init__(self) -> None:
        self._process: asyncio.subprocess.Process | None = None
        self._control: socket.socket | None = None
        self._lock = asyncio.Lock()
        self.users = 0

    async def _ensure(self) -> socket.socket:
        if self._process is not None and self._process.returncode is None and self._control is not None:
            return self._control
        self._close_control()
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-I",
                "-m",
                "xcore._sandbox.zygote",
                str(child.fileno()),
                pass_fds=(child.fileno(),),
                env={},
                stdin=asyncio.subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            child.close()
        parent.setblocking(False)
        ready = await asyncio.wait_for(asyncio.get_running_loop().sock_recv(parent, 1), 60)
        if ready != b"R":
            parent.close()
            raise RuntimeError("the sandbox zygote did not start")
        self._control = parent
        return parent

    async def spawn(
        self, worker_socket: socket.socket, sync_socket: socket.socket, stderr_fd: int, cwd: str
    ) -> ForkedWorker:
        """Fork a worker that will serve ``worker_socket`` (and ``sync_socket``, its synchronous
        calls); its stderr goes to ``stderr_fd``."""
        async with self._lock:
            control = await self._ensure()
            message = json.dumps({"cwd": cwd}).encode()
            fds = array.array("i", [worker_socket.fileno(), sync_socket.fileno(), stderr_fd])
            control.sendmsg(
                [struct.pack("!I", len(message)) + message], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds.tobytes())]
            )
            loop = asyncio.get_running_loop()
            data = b""
            while len(data) < _PID.size:
                part = await asyncio.wait_for(loop.sock_recv(control, _PID.size - len(data)), 30)
                if not part:
                    self._close_control()
                    raise RuntimeError("the sandbox zygote exited")
                data += part
            pid = _PID.unpack(data)[0]
            if pid <= 0:
                raise RuntimeError(f"the sandbox zygote could not fork (errno {-pid})")
            return ForkedWorker(pid)

    def _close_control(self) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None

    async def stop(self) -> None:
        self._close_control()  # the zygote exits when its control socket closes
        if self._process is not None and self._process.returncode is None:
            try:
                await asyncio.wait_for(self._process.wait(), 5)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()
        self._process = None


_ZYGOTES: dict[asyncio.AbstractEventLoop, Zygote] = {}


def acquire() -> Zygote:
    """This event loop's zygote (created on first use); pair every call with :func:`release`."""
    loop = asyncio.get_running_loop()
    zygote = _ZYGOTES.setdefault(loop, Zygote())
    zygote.users += 1
    return zygote


async def release(zygote: Zygote) -> None:
    """One user fewer; the last one stops the zygote, so a host leaves no process behind."""
    zygote.users -= 1
    if zygote.users <= 0:
        for loop, known in list(_ZYGOTES.items()):
            if known is zygote:
                del _ZYGOTES[loop]
        await zygote.stop()


# --------------------------------------------------------------------------- the zygote process


def _serve(control: socket.socket) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # workers are reaped by the kernel; the host watches pidfds
    control.sendall(b"R")
    while True:
        try:
            head, ancillary, _, _ = control.recvmsg(4, socket.CMSG_SPACE(3 * 4))
        except OSError:
            return
        if len(head) < 4:
            return
        (size,) = struct.unpack("!I", head)
        if size > 64 * 1024:
            return
        body = b""
        while len(body) < size:
            part = control.recv(size - len(body))
            if not part:
                return
            body += part
        fds = array.array("i")
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
        if len(fds) != 3:
            for fd in fds:
                os.close(fd)
            control.sendall(_PID.pack(-22))
            continue
        request: dict[str, Any] = json.loads(body)
        try:
            pid = os.fork()
        except OSError as exc:
            control.sendall(_PID.pack(-(exc.errno or 1)))
            for fd in fds:
                os.close(fd)
            continue
        if pid == 0:
            code = 0
            try:
                control.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                os.setsid()
                os.dup2(fds[2], 2)
                os.close(fds[2])
                os.chdir(str(request["cwd"]))
                from xcore._sandbox import worker

                sys.argv = ["xcore._sandbox.worker", str(fds[0]), str(fds[1])]
                worker.run(fds[0], fds[1])
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                import traceback

                traceback.print_exc()
                code = 1
            finally:
                os._exit(code)
        for fd in fds:
            os.close(fd)
        control.sendall(_PID.pack(pid))


def main() -> None:
    control = socket.socket(fileno=int(sys.argv[1]))
    # What every worker imports before its walls go up, imported once here and shared by fork.
    import fastapi
    import fastapi.routing  # noqa: F401
    import pluggy  # noqa: F401
    import pydantic  # noqa: F401

    import xcore._events.event
    import xcore._plugins
    import xcore._sandbox.worker
    import xcore.sdk  # noqa: F401

    _serve(control)


if __name__ == "__main__":
    main()
