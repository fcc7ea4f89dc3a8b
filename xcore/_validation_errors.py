"""422 answers that never echo more than a short excerpt of what the client sent.

FastAPI's own handler returns every pydantic error with its whole ``input``: a 1 MB string sent where a
number belongs comes back whole, and a list of 100,000 bad items gives 100,000 errors. This handler keeps
FastAPI's shape (``{"detail": [{"type", "loc", "msg", "input", "ctx"}]}``) and bounds it: at most
:data:`MAX_ERRORS` errors (``"errors_omitted"`` counts the rest) and each ``input`` (and ``ctx`` value)
kept only when small, else replaced by a string of at most :data:`EXCERPT_CHARS` characters.
"""

from __future__ import annotations

import reprlib
from collections.abc import Mapping
from typing import Any

from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse

MAX_ERRORS = 20
EXCERPT_CHARS = 120
_SMALL = 40
"""A container is echoed as it is when it holds at most this many values, strings included by length/8."""

_repr = reprlib.Repr()
_repr.maxlevel, _repr.maxdict, _repr.maxlist, _repr.maxtuple, _repr.maxstring, _repr.maxother = 3, 6, 6, 6, 40, 40


def excerpt(value: Any) -> Any:
    """``value`` itself when small; otherwise a string of at most :data:`EXCERPT_CHARS` characters.

    The work is bounded too: neither the size check nor the excerpt walks more than a few dozen values.
    """
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value if len(value) <= EXCERPT_CHARS else value[:EXCERPT_CHARS] + "…"
    if _weight(value, _SMALL) <= _SMALL:
        return value
    text = _repr.repr(value)
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "…"


def _weight(value: Any, budget: int) -> int:
    """How many values ``value`` holds, counted until ``budget`` is passed (then any number above it).

    Each level down costs at least one, so the walk never goes deeper than ``budget``."""
    if budget < 0:
        return 1
    if isinstance(value, str | bytes):
        return 1 + len(value) // 8
    if isinstance(value, Mapping):
        items: Any = value.items()
    elif isinstance(value, list | tuple | set | frozenset):
        items = value
    else:
        return 1
    total = 1
    for item in items:
        total += _weight(item, budget - total)
        if total > budget:
            break
    return total


def bounded_errors(errors: Any) -> dict[str, Any]:
    """The body of a 422 for pydantic/FastAPI ``errors``, with the excerpts and the cap applied."""
    shown = []
    for error in list(errors[:MAX_ERRORS]):
        item = dict(error)
        if "input" in item:
            item["input"] = excerpt(item["input"])
        if isinstance(item.get("ctx"), Mapping):
            item["ctx"] = {key: excerpt(value) for key, value in item["ctx"].items()}
        item.pop("url", None)
        shown.append(item)
    body: dict[str, Any] = {"detail": jsonable_encoder(shown)}
    if len(errors) > MAX_ERRORS:
        body["errors_omitted"] = len(errors) - MAX_ERRORS
    return body


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """The app's handler for :class:`~fastapi.exceptions.RequestValidationError`."""
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(bounded_errors(exc.errors()), status_code=422)


__all__ = ["EXCERPT_CHARS", "MAX_ERRORS", "bounded_errors", "excerpt", "validation_error_handler"]
