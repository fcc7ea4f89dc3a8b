"""The one wire format between the host and a worker: length-prefixed frames over a socketpair.

A frame is ``!II`` (total length, header length), a JSON header, then raw bytes (an HTTP body
chunk, a stored file) that never pass through JSON. Headers are written and read with orjson (a
twentieth of the standard library's cost per frame). What orjson cannot write exactly (an integer
past 64 bits, which it would also read back as a float) is written by the standard library instead,
and the frame says so in the top bit of its header length, so that it is read back by the standard
library too: no value changes on the way, except that a float NaN or infinity arrives as ``null``.
Reading refuses anything that is not JSON, nested too deep (orjson's limit of 1024; the standard
library's recursion limit), or not UTF-8. Both lengths are checked against
:data:`MAX_FRAME` before anything is read, so a worker cannot make the host buffer an unbounded
frame; a malformed frame is a protocol violation that ends the connection (and the host restarts
the worker), never a guess at where the next frame starts.

Headers carry either ``id`` (a request from this side: ``op`` names it) or ``re`` (the answer to
the other side's request ``id``). The two sides number their requests independently; the host's
ids are random, so a worker cannot answer a request it has not been sent yet. An answer is matched
only against a request still waiting: a late, duplicate or forged answer is dropped and counted,
never handed to another caller.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from collections.abc import Callable
from typing import Any

import orjson

from xcore._errors import XcoreError

MAX_FRAME = 8 * 1024 * 1024
"""Largest frame either side accepts (header + bytes); larger bodies are streamed in chunks."""
CHUNK = 256 * 1024
"""HTTP bodies travel in chunks of at most this size."""

_PREFIX = struct.Struct("!II")


class ProtocolError(XcoreError):
    """The peer broke the framing rules; the connection cannot be trusted any further."""


_FALLBACK = json.JSONEncoder(separators=(",", ":"), default=str)
_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
"""Datetimes and dataclasses go to ``default=str`` as in the standard library's writer: one form
whichever writer a frame takes, and a dataclass's ``repr=False`` fields never cross."""
_STDLIB = 1 << 31
"""Set in the header length of a frame whose header the standard library wrote (and must read)."""


def encode(header: dict[str, Any], blob: bytes = b"") -> bytes:
    try:
        data, flag = orjson.dumps(header, default=str, option=_OPTIONS), 0
    except orjson.JSONEncodeError:
        data, flag = _FALLBACK.encode(header).encode(), _STDLIB
    total = len(data) + len(blob)
    if total > MAX_FRAME:
        raise ProtocolError(f"frame of {total} bytes exceeds the {MAX_FRAME}-byte limit")
    return _PREFIX.pack(total, len(data) | flag) + data + blob


def _lengths(prefix: bytes) -> tuple[int, int]:
    """``(total, head)``; ``head`` keeps the :data:`_STDLIB` bit for :func:`_decode`."""
    total, head = _PREFIX.unpack(prefix)
    if total > MAX_FRAME or (head & ~_STDLIB) > total or (head & ~_STDLIB) == 0:
        raise ProtocolError(f"bad frame lengths (total {total}, header {head}, limit {MAX_FRAME})")
    return total, head


def _decode(body: bytes, head: int) -> tuple[dict[str, Any], bytes]:
    stdlib, head = head & _STDLIB, head & ~_STDLIB
    try:
        header = json.loads(body[:head]) if stdlib else orjson.loads(body[:head])
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # orjson's error is a ValueError
        raise ProtocolError(f"frame header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise ProtocolError("frame header is not a JSON object")
    return header, body[head:]


async def read_frame(reader: asyncio.StreamReader) -> tuple[dict[str, Any], bytes] | None:
    """The next frame, or ``None`` at a clean end of stream; ``ProtocolError`` for anything malformed."""
    try:
        prefix = await reader.readexactly(_PREFIX.size)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise ProtocolError("connection closed inside a frame prefix") from None
    total, head = _lengths(prefix)
    try:
        body = await reader.readexactly(total)
    except asyncio.IncompleteReadError:
        raise ProtocolError("connection closed inside a frame") from None
    return _decode(body, head)


def read_frame_blocking(sock: socket.socket) -> tuple[dict[str, Any], bytes]:
    """The next frame from a blocking socket (the worker's synchronous channel); ``ProtocolError``
    at end of stream or for anything malformed, ``TimeoutError`` past the socket's timeout."""

    def exact(size: int) -> bytes:
        data = bytearray()
        while len(data) < size:
            part = sock.recv(size - len(data))
            if not part:
                raise ProtocolError("connection closed")
            data += part
        return bytes(data)

    total, head = _lengths(exact(_PREFIX.size))
    return _decode(exact(total), head)


FrameHandler = Callable[[dict[str, Any], bytes], None]
CloseHandler = Callable[[str], None]


class FrameProtocol(asyncio.streams.FlowControlMixin, asyncio.Protocol):
    """Frames parsed as bytes arrive and handed to ``on_frame`` at once, in the loop's callback.

    The hot path of every call: no reader task to wake and no ``readexactly`` awaits, so a frame
    costs one callback instead of two task steps. The buffer holds at most one incomplete frame
    (its size is checked before it is buffered further), so memory stays bounded whatever the peer
    sends. ``on_close`` is called once, with why the connection ended (``ProtocolError`` included:
    the connection is then closed). Writing goes through a ``StreamWriter`` (flow control, ``drain``).

    Reading stops while anything holds it (:meth:`hold`): while the peer does not read what this side
    writes (its answers would otherwise pile up here, one per request it keeps sending), and while a
    consumer of the frames is behind (a slow HTTP client of a streamed body).
    """

    def __init__(self, on_frame: FrameHandler, on_close: CloseHandler) -> None:
        super().__init__()
        self._on_frame = on_frame
        self._on_close: CloseHandler | None = on_close
        self._buffer = bytearray()
        self._holds: set[object] = set()
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # uvloop's transports are not asyncio.Transport subclasses

    def hold(self, reason: object) -> None:
        """Stop reading until every reason given here is released."""
        if not self._holds and self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()  # type: ignore[attr-defined]
        self._holds.add(reason)

    def release(self, reason: object) -> None:
        if reason not in self._holds:
            return
        self._holds.discard(reason)
        if not self._holds and self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()  # type: ignore[attr-defined]

    def pause_writing(self) -> None:
        super().pause_writing()
        self.hold(self.pause_writing)

    def resume_writing(self) -> None:
        super().resume_writing()
        self.release(self.pause_writing)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        try:
            while len(buffer) >= _PREFIX.size:
                total, head = _lengths(bytes(buffer[: _PREFIX.size]))
                end = _PREFIX.size + total
                if len(buffer) < end:
                    return
                body = bytes(buffer[_PREFIX.size : end])
                del buffer[:end]
                self._on_frame(*_decode(body, head))
        except ProtocolError as exc:
            self._close(f"protocol violation: {exc}")
            if self.transport is not None:
                self.transport.close()

    def eof_received(self) -> bool:
        self._close("connection closed inside a frame" if self._buffer else "peer closed the connection")
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._close(f"connection lost: {exc}" if exc is not None else "peer closed the connection")

    def _close(self, reason: str) -> None:
        on_close, self._on_close = self._on_close, None
        if on_close is not None:
            on_close(reason)


FLUSH_AT = 64 * 1024
"""Frames waiting for the end of the loop's turn are written at once past this many bytes."""


class FrameWriter:
    """Frames written during one turn of the event loop leave in one system call, at its end.

    Under load several requests (or answers) are written in the same turn, and each write to the
    socket wakes the process on the other end: on a virtual machine that wake-up costs the writer
    tens of microseconds. Gathering them costs a lone call one ``call_soon``. Past :data:`FLUSH_AT`
    bytes the frames are written at once, so a large body keeps the transport's flow control
    (``drain``) as it was.
    """

    __slots__ = ("_loop", "_pending", "_scheduled", "_size", "_writer", "after_flush", "protocol")

    def __init__(self, writer: asyncio.StreamWriter, protocol: FrameProtocol, loop: asyncio.AbstractEventLoop) -> None:
        self._writer = writer
        self.protocol = protocol
        """The connection's reading side (:meth:`FrameProtocol.hold`)."""
        self._loop = loop
        self._pending: list[bytes] = []
        self._size = 0
        self._scheduled = False
        self.after_flush: Callable[[], None] | None = None
        """Run in the loop's next turn after each write (the worker's idle spin)."""

    def write(self, frame: bytes) -> None:
        self._pending.append(frame)
        self._size += len(frame)
        if self._size >= FLUSH_AT:
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write what waits now (the scheduled flush then finds nothing)."""
        self._scheduled = False
        pending = self._pending
        if not pending:
            return
        data = pending[0] if len(pending) == 1 else b"".join(pending)
        pending.clear()
        self._size = 0
        if not self._writer.is_closing():
            self._writer.write(data)
            if self.after_flush is not None:
                self._loop.call_soon(self.after_flush)

    async def drain(self) -> None:
        self.flush()
        await self._writer.drain()

    def close(self) -> None:
        self.flush()
        self._writer.close()

    async def wait_closed(self) -> None:
        await self._writer.wait_closed()


async def open_frames(sock: socket.socket, on_frame: FrameHandler, on_close: CloseHandler) -> FrameWriter:
    """Serve ``sock`` with a :class:`FrameProtocol`; the writer to send frames on it."""
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_connection(lambda: FrameProtocol(on_frame, on_close), sock=sock)
    return FrameWriter(asyncio.StreamWriter(transport, protocol, None, loop), protocol, loop)
