"""The action endpoint's body: a JSON object (or nothing), parsed only once the key has been checked.

Declaring the body as a FastAPI parameter would make FastAPI read and parse it before any dependency,
the key check included: anyone could make the host parse large bodies for a 401. So the endpoint reads
the body itself, after the check, and parses it here; errors are FastAPI's 422 shape, with the input
shown only as a short excerpt (:mod:`xcore._validation_errors`).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.exceptions import RequestValidationError

ACTION_BODY: dict[str, Any] = {
    "requestBody": {
        "required": False,
        "content": {
            "application/json": {"schema": {"type": "object", "additionalProperties": True, "title": "Payload"}}
        },
    }
}
"""The OpenAPI description of the body, as FastAPI would have written it for ``dict[str, Any] | None``."""


def parse_payload(body: bytes) -> dict[str, Any]:
    """The payload: ``{}`` for an empty body or ``null``; a :class:`RequestValidationError` (422) otherwise
    unless the body is a JSON object."""
    if not body.strip():
        return {}
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        position = exc.pos if isinstance(exc, json.JSONDecodeError) else 0
        raise RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", position),
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": reason},
                }
            ]
        ) from None
    if payload is None:
        return {}
    if not isinstance(payload, dict):
        raise RequestValidationError(
            [{"type": "dict_type", "loc": ("body",), "msg": "Input should be a valid dictionary", "input": payload}]
        )
    return payload


__all__ = ["ACTION_BODY", "parse_payload"]
