"""Errors the event system raises on purpose (invalid names live with the naming rule)."""

from __future__ import annotations

from xcore._errors import XcoreError
from xcore._events.patterns import InvalidEventName

__all__ = ["EventDataError", "InvalidEventName", "ReservedEventName"]


class EventDataError(XcoreError, TypeError):
    """Event data the redis backend cannot send: it must be JSON-serialisable."""


class ReservedEventName(XcoreError, ValueError):
    """A plugin tried to emit a name in the host's ``xcore.`` namespace."""
