"""A hostile plugin: each action tries one escape and reports what happened (the test asserts it failed)."""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from fastapi import APIRouter, Response

from xcore.sdk import TrustedBase, action, ok


def attempt(fn: Any) -> dict[str, Any]:
    try:
        result = fn()
    except BaseException as exc:
        return ok(blocked=True, error=f"{type(exc).__name__}: {exc}")
    return ok(blocked=False, result=repr(result)[:200])


class Evil(TrustedBase):
    @action()
    async def read(self, payload: dict[str, Any]) -> dict[str, Any]:
        return attempt(lambda: open(payload["path"], "rb").read(100))

    @action()
    async def write(self, payload: dict[str, Any]) -> dict[str, Any]:
        return attempt(lambda: open(payload["path"], "w").write("pwned"))

    @action()
    async def listdir(self, payload: dict[str, Any]) -> dict[str, Any]:
        return attempt(lambda: os.listdir(payload["path"]))

    @action()
    async def env(self, payload: dict[str, Any]) -> dict[str, Any]:
        return ok(env=dict(os.environ))

    @action()
    async def connect(self, payload: dict[str, Any]) -> dict[str, Any]:
        def go() -> str:
            with socket.create_connection((payload["host"], int(payload["port"])), timeout=2):
                return "connected"

        return attempt(go)

    @action()
    async def fork_bomb(self, payload: dict[str, Any]) -> dict[str, Any]:
        children = []

        def go() -> int:
            for _ in range(int(payload.get("max", 200))):  # bounded: stops at the first refusal
                pid = os.fork()
                if pid == 0:
                    time.sleep(2)
                    os._exit(0)
                children.append(pid)
            return len(children)

        result = attempt(go)
        for pid in children:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        result["forked"] = len(children)
        return result

    @action()
    async def allocate(self, payload: dict[str, Any]) -> dict[str, Any]:
        return attempt(lambda: len(bytearray(int(payload["gb"] * 1024**3))))

    @action()
    async def spin(self, payload: dict[str, Any]) -> dict[str, Any]:
        while True:
            pass

    @action()
    async def block(self, payload: dict[str, Any]) -> dict[str, Any]:
        time.sleep(3600)
        return ok()

    @action()
    async def kill_parent(self, payload: dict[str, Any]) -> dict[str, Any]:
        return attempt(lambda: os.kill(int(payload["pid"]), 15))

    @action()
    async def service(self, payload: dict[str, Any]) -> dict[str, Any]:
        svc = self.get_service(payload["service"])
        try:
            result = await getattr(svc, payload["method"])(*payload.get("args", []))
        except PermissionError as exc:
            return ok(blocked=True, error=f"PermissionError: {exc}")
        except Exception as exc:
            return ok(blocked=True, error=f"{type(exc).__name__}: {exc}")
        return ok(blocked=False, result=result)

    @action()
    async def garbage(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Write raw bytes on the protocol socket, or with ``sync`` on the synchronous channel:
        ``kind`` is ``bytes`` (not a frame), ``oversized`` (a length past the limit), ``deep`` (a
        header nested 100,000 deep) or ``deep_stdlib`` (the same, flagged for the standard library's
        reader, which would recurse)."""
        import struct
        import sys

        kind = payload.get("kind", "bytes")
        deep = b"[" * 100_000 + b"]" * 100_000
        frame = {
            "bytes": b"\xff" * 64,
            "oversized": struct.pack("!II", 2**31, 10),
            "deep": struct.pack("!II", len(deep), len(deep)) + deep,
            "deep_stdlib": struct.pack("!II", len(deep), len(deep) | 1 << 31) + deep,
        }[kind]
        # the worker's sockets, as its command line names them
        for fd in [int(sys.argv[2] if payload.get("sync") else sys.argv[1])]:
            sock = socket.socket(fileno=os.dup(fd))
            if sock.family == socket.AF_UNIX:
                sock.sendall(frame)
                sock.detach()
                return ok(sent=True)
            sock.detach()
        return ok(sent=False)

    def get_router(self) -> APIRouter:
        router = APIRouter()

        @router.get("/lying-length")
        async def lying_length() -> Response:
            """Declares 1000 bytes and sends 5: the host must frame the response by what it got."""
            return Response(b"hello", headers={"content-length": "1000", "transfer-encoding": "chunked"})

        @router.get("/no-content")
        async def no_content() -> Response:
            """A 204 with a body: the host must send none (the client would read it as the next answer)."""
            return Response(b"abc", status_code=204)

        return router

    @action()
    async def flood_unread(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Service calls written by hand with the loop blocked, so no answer is ever read."""
        import json
        import select
        import struct
        import sys

        sock = socket.socket(fileno=os.dup(int(sys.argv[1])))
        frames = []
        for n in range(payload.get("n", 20_000)):
            header = json.dumps({"op": "service", "id": 10**9 + n, "service": "nothing", "method": "x" * 200})
            frames.append(struct.pack("!II", len(header), len(header)) + header.encode())
        view = memoryview(b"".join(frames))
        while view:  # the descriptor is non-blocking (shared with the loop's transport): wait by hand
            select.select([], [sock], [])  # blocks once the host stops reading: it then kills this worker
            try:
                view = view[sock.send(view) :]
            except BlockingIOError:
                continue
        sock.detach()
        return ok(sent=True)

    @action()
    async def forged_trace(self, payload: dict[str, Any]) -> dict[str, Any]:
        """A service call written by hand, naming a trace the host never sent this worker."""
        import json
        import struct
        import sys

        header = json.dumps(
            {"op": "service", "id": 10**9, "service": "cache", "method": "get", "args": ["x"], "tp": payload["tp"]}
        ).encode()
        sock = socket.socket(fileno=os.dup(int(sys.argv[1])))
        sock.sendall(struct.pack("!II", len(header), len(header)) + header)
        sock.detach()
        return ok(sent=True)

    @action()
    async def answer_twice(self, payload: dict[str, Any]) -> dict[str, Any]:
        """From now on every answer frame goes out twice, and frames forged for guessed ids go with them."""
        import gc
        import json
        import struct
        import sys

        for obj in gc.get_objects():
            if type(obj).__name__ == "Worker" and hasattr(obj, "send") and hasattr(obj, "writer"):
                original = obj.send

                def twice(header: dict[str, Any], blob: bytes = b"", original: Any = original) -> None:
                    original(header, blob)
                    if "re" in header:
                        original(header, blob)

                obj.send = twice
        sock = socket.socket(fileno=os.dup(int(sys.argv[1])))
        for ident in range(1, 50):
            head = json.dumps({"re": ident, "ok": {"status": "ok", "forged": True}}).encode()
            sock.sendall(struct.pack("!II", len(head), len(head)) + head)
        sock.detach()
        return ok(real=True)

    @action()
    async def http_get(self, payload: dict[str, Any]) -> dict[str, Any]:
        """An ordinary HTTP client: it finds the egress proxy through HTTP_PROXY like anywhere else."""
        import httpx

        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.get(payload["url"])
        return ok(http_status=response.status_code, text=response.text[:500])

    @action()
    async def listen(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.heard: list[Any] = getattr(self, "heard", [])
        try:
            await self.ctx.events.subscribe(
                payload["pattern"], lambda event: self.heard.append([event.name, event.data])
            )
        except PermissionError as exc:
            return ok(blocked=True, error=f"PermissionError: {exc}")
        return ok(blocked=False)

    @action()
    async def heard_events(self, payload: dict[str, Any]) -> dict[str, Any]:
        return ok(heard=getattr(self, "heard", []))

    @action()
    async def flood_services(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Many slow service calls at once: the host refuses past its bound instead of queueing them all."""
        import asyncio

        cache = self.get_service("cache")
        results = await asyncio.gather(*(cache.get(f"k{i}") for i in range(int(payload["n"]))), return_exceptions=True)
        refused = [r for r in results if isinstance(r, PermissionError) and "in flight" in str(r)]
        return ok(calls=len(results), refused=len(refused))

    @action()
    async def echo_back(self, payload: dict[str, Any]) -> dict[str, Any]:
        import asyncio

        await asyncio.sleep(0.001 * (20 - int(payload["n"])))  # answers leave out of order
        return ok(n=payload["n"])

    @action()
    async def schedule(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.ticks = 0
        job = await self.get_service("scheduler").add_job(self.tick, "interval", seconds=0.2, id="tick")
        return ok(job=job)

    async def tick(self) -> None:
        self.ticks += 1

    @action()
    async def count_ticks(self, payload: dict[str, Any]) -> dict[str, Any]:
        jobs = await self.get_service("scheduler").get_jobs()
        return ok(ticks=self.ticks, jobs=[job["id"] for job in jobs])

    @action()
    async def log_flood(self, payload: dict[str, Any]) -> dict[str, Any]:
        for i in range(int(payload["n"])):
            self.ctx.logger.warning("flood %d", i)
        return ok()
