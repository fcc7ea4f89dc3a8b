"""The keys a client presents (``X-API-Key``, or ``Authorization: Bearer``) and their constant-time check.

One place for it, so the action endpoint and the readiness details accept a key the same way.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from pydantic import SecretStr
from starlette.requests import HTTPConnection

from xcore._config.models import AppConfig


def presented_key(request: HTTPConnection, admin: bool = False) -> str | None:
    """The key the request carries: the ``X-API-Key`` header, else an ``Authorization: Bearer`` token;
    with ``admin``, an ``X-Admin-Key`` header first (where an operator's key is accepted)."""
    given = request.headers.get("x-admin-key") if admin else None
    if given is None:
        given = request.headers.get("x-api-key")
    if given is None:
        authorization = request.headers.get("authorization")
        if authorization and authorization[:7].lower() == "bearer ":
            given = authorization[7:]
    return given


def matches(given: str, expected: Iterable[bytes]) -> bool:
    """Whether ``given`` equals one of ``expected``, compared in constant time (each one is compared)."""
    encoded = given.encode()
    found = False
    for key in expected:
        found |= hmac.compare_digest(encoded, key)
    return found


def operator_keys(app: AppConfig) -> list[bytes]:
    """The keys that may read the host's internals: ``app.api_key`` and ``app.admin_key``, those set."""
    keys: list[SecretStr | None] = [app.api_key, app.admin_key]
    return [key.get_secret_value().encode() for key in keys if key is not None]


__all__ = ["matches", "operator_keys", "presented_key"]
