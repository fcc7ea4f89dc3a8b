"""The one response shape of plugin actions.

Every action answers a JSON object with ``"status"``: ``"ok"`` plus the action's data, or
``"error"`` plus ``"message"`` and ``"code"`` (``None`` when not given) and any extra data.
Being plain dicts, responses cross HTTP, in-process calls and plugin-to-plugin calls unchanged.
"""

from __future__ import annotations

from typing import Any

from xcore._errors import XcoreError


def ok(**data: Any) -> dict[str, Any]:
    """A successful action response: ``{"status": "ok", **data}``."""
    return {"status": "ok", **data}


def error(
    message: str | None = None, code: str | None = None, *, msg: str | None = None, **data: Any
) -> dict[str, Any]:
    """A failed action response: ``{"status": "error", "message": ..., "code": ..., **data}``.

    ``msg=`` is the original XCore's spelling of ``message`` and is accepted for it (the response
    still says ``"message"``; see docs/migrating.md), so a plugin's ``except`` block written for it
    reports its error instead of raising ``TypeError`` itself.
    """
    if msg is not None:
        if message is not None:
            raise TypeError("error() takes message or its old spelling msg=, not both")
        message = msg
    if message is None:
        raise TypeError("error() needs a message: error('what went wrong', code='...')")
    return {"status": "error", "message": message, "code": code, **data}


class ActionNotFound(XcoreError, LookupError):
    """Raised by ``handle`` for an action the plugin does not know; the HTTP endpoint answers 404."""

    def __init__(self, plugin: str, action: str, known: list[str] | None = None) -> None:
        self.plugin = plugin
        self.action = action
        self.known = sorted(known or [])
        hint = f"; known actions: {', '.join(self.known)}" if self.known else ""
        super().__init__(f"plugin {plugin!r} has no action {action!r}{hint}")
