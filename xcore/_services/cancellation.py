"""Telling a real cancellation from a ``CancelledError`` that plugin or backend code raised on its own.

Code that cancels its own background task and awaits it without catching raises ``CancelledError``
although nobody cancelled the host. Treated as a cancellation, that one slip would abort a boot,
skip the rest of a shutdown (services left open) or kill the health monitor; it is that code's
failure and is recorded as such. A cancellation aimed at the running task still propagates.
"""

from __future__ import annotations

import asyncio


def reraise_if_cancelled(exc: BaseException) -> None:
    """Re-raise ``exc`` if it is a cancellation of the running task; return for any other error."""
    if isinstance(exc, asyncio.CancelledError):
        task = asyncio.current_task()
        if task is None or task.cancelling():
            raise exc
