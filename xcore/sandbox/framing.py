"""The one wire format between the host and a worker: length-prefixed frames over a socketpair.

A frame is ``!II`` (total length, header length), a JSON header, then raw bytes (an HTTP body
chunk, a stored file) that never pass through JSON. Both lengths are checked against
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
from typing import Any

from xcore.errors import XcoreError

MAX_FRAME = 8 * 1024 * 1024
"""Largest frame either side accepts (header + bytes); larger bodies are streamed in chunks."""
CHUNK = 256 * 1024
"""HTTP bodies travel in chunks of at most this size."""

_PREFIX = struct.Struct("!II")


class ProtocolError(XcoreError):
    """The peer broke the framing rules; the connection cannot be trusted any further."""


def encode(header: dict[str, Any], blob: bytes = b"") -> bytes:
    data = json.dumps(header, separators=(",", ":"), default=str).encode()
    total = len(data) + len(blob)
    if total > MAX_FRAME:
        raise ProtocolError(f"frame of {total} bytes exceeds the {MAX_FRAME}-byte limit")
    return _PREFIX.pack(total, len(data)) + data + blob


def _lengths(prefix: bytes) -> tuple[int, int]:
    total, head = _PREFIX.unpack(prefix)
    if total > MAX_FRAME or head > total or head == 0:
        raise ProtocolError(f"bad frame lengths (total {total}, header {head}, limit {MAX_FRAME})")
    return total, head


def _decode(body: bytes, head: int) -> tuple[dict[str, Any], bytes]:
    try:
        header = json.loads(body[:head])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
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
