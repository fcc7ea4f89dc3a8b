"""One admin call, every worker and host: commands and results over the events service on Redis.

With ``services.events: {backend: redis}``, every process of the application (uvicorn workers, hosts
behind a load balancer) shares one pub/sub channel. An admin call that changes plugins runs in the
process that received it and is published as an ``xcoreadmin.command`` event; every other process
runs it too and answers with an ``xcoreadmin.result`` event. The caller waits for the answers for a
bounded time (``wait``, at most :data:`MAX_WAIT` seconds; early once ``expect`` answers arrived) and
gets one entry per process that answered: ``{"worker", "ok", "result" | "error"}``. A process that
did not answer in time is simply absent from the list, so the caller can tell.

Plugins share the bus, so the messages are signed: ``HMAC(admin_key, message)``, with a timestamp and
an id. A message with a bad signature, older than :data:`MAX_AGE` seconds, or already seen is
ignored, so neither a plugin (which never holds the admin key) nor anyone else on the Redis server can
make a worker disable a plugin. The messages carry no secret: an operation name, a plugin name,
results (errors are redacted).

Without the redis backend (memory events, or none), a call reaches only the process that received it,
and the answer says so with one entry.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import socket
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("xcore.admin")

COMMAND = "xcoreadmin.command"
RESULT = "xcoreadmin.result"
MAX_WAIT = 30.0
MAX_AGE = 60.0

Operation = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


def worker_id() -> str:
    """This process, as results name it: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Fanout:
    """Runs admin operations here and, with a redis events service, in every other process."""

    def __init__(self, admin_key: str, run: Operation, *, clean: Callable[[str], str] = str) -> None:
        self._clean = clean
        self._key = hashlib.sha256(b"xcore-admin-fanout:" + admin_key.encode()).digest()
        self._run = run
        self.worker = worker_id()
        self._instance = uuid.uuid4().hex  # two hosts in one process are two senders
        self._events: Any = None
        self._pending: dict[str, list[dict[str, Any]]] = {}
        self._arrived: dict[str, asyncio.Event] = {}
        self._seen: deque[str] = deque(maxlen=1024)
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def shared(self) -> bool:
        """Whether calls reach other processes (a redis events service is attached)."""
        return self._events is not None

    def attach(self, events: Any) -> None:
        """Listen for commands and results on ``events`` when it crosses processes (the redis backend)."""
        if self._events is not None or events is None or getattr(events, "backend", None) != "redis":
            return
        self._events = events
        events.on(COMMAND, self._on_command)
        events.on(RESULT, self._on_result)

    async def call(
        self, op: str, args: dict[str, Any], *, everywhere: bool = True, wait: float = 3.0, expect: int | None = None
    ) -> list[dict[str, Any]]:
        """Run ``op`` here and (when ``everywhere`` and shared) in every process; one result per process."""
        local = await self._safely(op, args)
        if not everywhere or self._events is None:
            return [local]
        message_id = uuid.uuid4().hex
        results = self._pending[message_id] = [local]
        arrived = self._arrived[message_id] = asyncio.Event()
        try:
            await self._events.emit(
                COMMAND, self._signed({"id": message_id, "op": op, "args": args, "origin": self._instance})
            )
            deadline = time.monotonic() + min(max(wait, 0.0), MAX_WAIT)
            while (expect is None or len(results) < expect) and (left := deadline - time.monotonic()) > 0:
                arrived.clear()
                try:
                    await asyncio.wait_for(arrived.wait(), left)
                except TimeoutError:
                    break
            return list(results)
        finally:
            self._pending.pop(message_id, None)
            self._arrived.pop(message_id, None)

    async def _safely(self, op: str, args: dict[str, Any]) -> dict[str, Any]:
        try:
            return {"worker": self.worker, "ok": True, "result": await self._run(op, args)}
        except Exception as exc:  # reported to the caller, per worker; the operation names what was wrong
            return {"worker": self.worker, "ok": False, "error": self._clean(str(exc))}

    # ------------------------------------------------------------------ the bus side

    def _signed(self, body: dict[str, Any]) -> dict[str, Any]:
        body = {**body, "at": time.time()}
        return {"body": body, "sig": self._sign(body)}

    def _sign(self, body: dict[str, Any]) -> str:
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()
        return hmac.new(self._key, canonical, hashlib.sha256).hexdigest()

    def _verified(self, data: Any) -> dict[str, Any] | None:
        if not isinstance(data, dict) or not isinstance(data.get("body"), dict) or not isinstance(data.get("sig"), str):
            return None
        body: dict[str, Any] = data["body"]
        if not hmac.compare_digest(data["sig"].encode(), self._sign(body).encode()):
            log.warning("admin: ignored an %s message with a bad signature", COMMAND)
            return None
        at = body.get("at")
        if not isinstance(at, int | float) or abs(time.time() - at) > MAX_AGE:
            return None
        return body

    async def _on_command(self, event: Any) -> None:
        body = self._verified(event.data)
        if body is None or body.get("origin") == self._instance or body.get("id") in self._seen:
            return
        self._seen.append(str(body["id"]))
        # The operation may take a while (a disable drains requests): not inside the event handler's timeout.
        task = asyncio.create_task(self._answer(body))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, body: dict[str, Any]) -> None:
        result = await self._safely(str(body.get("op")), dict(body.get("args") or {}))
        assert self._events is not None
        await self._events.emit(RESULT, self._signed({"id": body["id"], "result": result}))

    async def _on_result(self, event: Any) -> None:
        body = self._verified(event.data)
        if body is None or body.get("id") not in self._pending:
            return
        self._pending[body["id"]].append(body["result"])
        self._arrived[body["id"]].set()


__all__ = ["COMMAND", "MAX_WAIT", "RESULT", "Fanout", "worker_id"]
