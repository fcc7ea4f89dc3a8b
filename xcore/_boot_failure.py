"""A boot that fails for a reason XCore names (strict mode, a required service) is one paragraph.

Starlette reports any exception raised while the app starts as a full traceback in the
``lifespan.startup.failed`` message, which uvicorn and gunicorn print. For an ``XcoreError`` the
message already says what failed and why (a plugin's own traceback is logged where it happened),
so the traceback only buries it. Other exceptions are bugs and keep their traceback.

The app's lifespan handler is wrapped, rather than adding a middleware, so HTTP requests do not
pay for a layer that only matters once, at startup.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI

from xcore._errors import XcoreError

Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]

PREFIX = "XCore did not start: "


def report_boot_failures_briefly(app: FastAPI) -> None:
    """Make ``app``'s startup failure message one paragraph when the boot raised an ``XcoreError``."""
    lifespan = app.router.lifespan

    async def brief_lifespan(scope: Any, receive: Any, send: Send) -> None:
        async def send_brief(message: Message) -> None:
            if message.get("type") == "lifespan.startup.failed":
                failure = sys.exc_info()[1]  # sent from the handler that caught it
                if isinstance(failure, XcoreError):
                    message = {**message, "message": f"{PREFIX}{failure}"}
            await send(message)

        await lifespan(scope, receive, send_brief)

    app.router.lifespan = brief_lifespan  # type: ignore[method-assign]
