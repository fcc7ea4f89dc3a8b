"""Is a pooled connection already dead before it is handed out? One ``poll`` of its socket says.

When PostgreSQL restarts, each server process sends its idle clients a FATAL message and closes the
socket. asyncpg notices only when the event loop gets round to reading that socket, and under load
the pool can hand out such a connection first: the plugin's first statement then fails with
"connection was closed in the middle of operation", although nothing had been sent on it yet.

A connection at rest in the pool has nothing to read: the server speaks only when asked. So a socket
that polls readable before the connection is used holds an end-of-file or an unsolicited message (the
FATAL of a shutdown), and the connection is discarded unused. That costs one system call and no round
trip, unlike a ``SELECT 1`` pre-ping; what it cannot see (a server that vanished without closing, on
a broken network) is left to timeouts, as a pre-ping would leave it too. Nothing is ever retried: a
statement that may have run is never sent twice.
"""

from __future__ import annotations

import select
from typing import Any


def closed_by_server(connection: Any) -> bool:
    """Whether the asyncpg ``connection`` (or pool proxy) has pending input, i.e. was closed or is
    being closed by the server, before anything was sent on it. ``False`` when it cannot tell."""
    transport = getattr(connection, "_transport", None)  # asyncpg's Connection keeps its transport here
    if transport is None or transport.is_closing():
        return transport is not None
    sock = transport.get_extra_info("socket")
    if sock is None:
        return False
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))
