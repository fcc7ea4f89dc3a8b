"""Granted network access (``network: ["host:port", ...]``) through an egress proxy in the host.

The worker has no network: its namespace holds only a loopback interface. When hosts are granted,
the worker brings that loopback up and runs a small HTTP proxy on :data:`PROXY_PORT` inside its own
namespace (Landlock allows binding and connecting that one port, nothing else), and points
``HTTP_PROXY``/``HTTPS_PROXY`` at it, so ordinary clients (httpx, requests, urllib) use it unchanged.
Each proxied connection becomes a stream over the worker's own socket to the host, where
:class:`EgressRelay` checks ``host:port`` against the grant before opening anything. A refused
destination is answered ``403`` with the permission to grant, audited like every other denial.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from xcore._sandbox.framing import CHUNK

log = logging.getLogger("xcore.sandbox")

PROXY_PORT = 3128
"""The proxy's port inside the worker's private network namespace."""
MAX_STREAMS = 32
MAX_REQUEST_HEAD = 16 * 1024
CONNECT_TIMEOUT = 10.0

Send = Callable[[dict[str, Any], bytes], None]


class EgressRelay:
    """Host side: open granted connections for one worker and relay their bytes as frames."""

    def __init__(self, plugin: str, send: Send) -> None:
        self.plugin = plugin
        self._send = send
        self._streams: dict[int, asyncio.StreamWriter] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._next = 0

    async def open(self, host: str, port: int) -> int:
        """Connect to an already-granted ``host:port``; the stream number the worker uses for it."""
        if len(self._streams) >= MAX_STREAMS:
            raise ConnectionError(f"sandboxed plugin {self.plugin!r} has {MAX_STREAMS} connections open already")
        async with asyncio.timeout(CONNECT_TIMEOUT):
            reader, writer = await asyncio.open_connection(host, port)
        self._next += 1
        stream = self._next
        self._streams[stream] = writer
        self._tasks[stream] = asyncio.create_task(self._pump(stream, reader))
        return stream

    async def _pump(self, stream: int, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(Exception):
            while data := await reader.read(CHUNK):
                self._send({"op": "net.data", "stream": stream}, data)
        self._send({"op": "net.close", "stream": stream}, b"")
        self._drop(stream)

    def data(self, header: dict[str, Any], blob: bytes) -> None:
        """A ``net.data`` / ``net.close`` frame from the worker."""
        stream = header.get("stream")
        writer = self._streams.get(stream) if isinstance(stream, int) else None
        if writer is None:
            return
        if header.get("op") == "net.close":
            self._drop(stream)  # type: ignore[arg-type]
        else:
            writer.write(blob)

    def _drop(self, stream: int) -> None:
        writer = self._streams.pop(stream, None)
        if writer is not None:
            writer.close()
        task = self._tasks.pop(stream, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    def close(self) -> None:
        for stream in list(self._streams):
            self._drop(stream)


class EgressProxy:
    """Worker side: the HTTP proxy the plugin's clients use; each connection is a stream to the host."""

    def __init__(self, request: Callable[[dict[str, Any], bytes], Awaitable[tuple[Any, bytes]]], send: Send) -> None:
        self._request = request
        self._send = send
        self._writers: dict[int, asyncio.StreamWriter] = {}

    async def start(self) -> None:
        await asyncio.start_server(self._client, "127.0.0.1", PROXY_PORT)

    def data(self, header: dict[str, Any], blob: bytes) -> None:
        writer = self._writers.get(header.get("stream", -1))
        if writer is None:
            return
        if header.get("op") == "net.close":
            self._writers.pop(header["stream"], None)
            writer.close()
        else:
            writer.write(blob)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            writer.close()
            return
        if len(head) > MAX_REQUEST_HEAD:
            writer.close()
            return
        method, target, _ = (head.split(b"\r\n", 1)[0].decode("latin-1") + "  ").split(" ", 2)
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            forward = b""
        else:
            url = urlsplit(target)
            host, port = url.hostname or "", str(url.port or (443 if url.scheme == "https" else 80))
            forward = head
        try:
            stream, _ = await self._request(
                {
                    "op": "service",
                    "service": "network",
                    "method": "open",
                    "args": [host.strip("[]"), int(port)],
                    "kwargs": {},
                },
                b"",
            )
        except Exception as exc:
            status = b"403 Forbidden" if isinstance(exc, PermissionError) else b"502 Bad Gateway"
            body = str(exc).encode()
            writer.write(
                b"HTTP/1.1 "
                + status
                + b"\r\ncontent-length: "
                + str(len(body)).encode()
                + b"\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n"
                + body
            )
            await writer.drain()
            writer.close()
            return
        stream = int(stream)
        self._writers[stream] = writer
        if method == "CONNECT":
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            self._send({"op": "net.data", "stream": stream}, forward)
        with contextlib.suppress(Exception):
            while data := await reader.read(CHUNK):
                self._send({"op": "net.data", "stream": stream}, data)
        self._send({"op": "net.close", "stream": stream}, b"")
        self._writers.pop(stream, None)
        writer.close()
