"""What ``POST {prefix}/<plugin>/actions/<action>`` answers when the action endpoint is off.

Without ``app.api_key`` the endpoint does not exist (it never runs actions unauthenticated). A bare
``{"detail": "Not Found"}`` sent callers looking for a typo in the plugin or action name, so the
404 for exactly that method and path shape says why, and how to turn the endpoint on. Nothing else
changes: the answer is still 404, no action runs, and a plugin's own route at such a path (one that
matched) keeps its own answers, since only requests that no route matched get here.
"""

from __future__ import annotations

import inspect
import re

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from xcore.sdk._responses import error

DISABLED_MESSAGE = (
    "the action endpoint is off: set app.api_key in integration.yaml to enable "
    "POST {prefix}/<plugin>/actions/<action> (then send the key as X-API-Key or Authorization: Bearer)"
)


def explain_disabled_actions(app: FastAPI, prefix: str) -> None:
    """Answer unmatched ``POST {prefix}/<plugin>/actions/<action>`` with a 404 that says why."""
    pattern = re.compile(rf"{re.escape(prefix)}/[^/]+/actions/[^/]+/?")
    message = DISABLED_MESSAGE.format(prefix=prefix)
    previous = app.exception_handlers.get(404)  # an embedded app's own 404 page answers everything else

    async def not_found(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if request.method == "POST" and "endpoint" not in request.scope and pattern.fullmatch(request.url.path):
            return JSONResponse(error(message, code="actions_disabled"), status_code=404)
        if previous is not None:
            answer = previous(request, exc)
            return await answer if inspect.isawaitable(answer) else answer
        return await http_exception_handler(request, exc)

    app.add_exception_handler(404, not_found)
