"""Server URLs in service settings: the Redis URL type, and masking passwords in any URL text.

Kept free of client libraries: settings models and error messages of every backend use these, and
importing a backend must not import SQLAlchemy or redis-py (see :mod:`.lazy_exports`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, ValidationError, ValidationInfo
from pydantic_core import InitErrorDetails, PydanticCustomError

from xcore._redaction import MASK, redact_text

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def check_redis_scheme(value: str) -> str:
    """``value`` if it is a URL redis-py can open: its scheme, then redis-py's own parsing (port,
    database number, query options), so that ``xcore config check`` rejects what the client would."""
    if not value.startswith(REDIS_SCHEMES):
        raise ValueError(f"must start with one of {', '.join(REDIS_SCHEMES)}")
    from redis.connection import parse_url

    try:
        parse_url(value)  # type: ignore[no-untyped-call]
    except ValueError as exc:
        raise ValueError(
            f"is not a usable Redis URL ({mask_url_text(str(exc))}); expected redis://[:password@]host:6379/0, "
            "rediss://... or unix:///path/to/socket"
        ) from None
    return value


RedisUrl = Annotated[str, AfterValidator(check_redis_scheme)]
"""A settings field holding a ``redis://``, ``rediss://`` or ``unix://`` URL (every Redis service)."""


_ANY_USERINFO_PASSWORD = re.compile(r":[^:@/\s]*@")


def mask_url_text(raw: str, password: str | None = None) -> str:
    """``raw`` (a URL or a message quoting one) with every password masked, even in malformed URLs."""
    cleaned = redact_text(raw, [password] if password else [])
    return _ANY_USERINFO_PASSWORD.sub(f":{MASK}@", cleaned)


def configured_redis(context: Any) -> tuple[str, str] | None:
    """``(url, key path)`` of the Redis the configuration already names, if any.

    The cache's ``url`` when the cache is on Redis, else the first ``type: redis`` database. ``context``
    is the validation context the host passes (a :class:`~xcore._services.types.SettingsContext`).
    """
    of_type = getattr(context, "of_type", None)
    if of_type is None:
        return None
    for section in [*of_type("cache", "redis"), *of_type("database", "redis")]:
        url = section.settings.get("url")
        if isinstance(url, str) and url.startswith(REDIS_SCHEMES):
            return url, f"{section.key_path}.url"
    return None


def url_or_configured_redis(data: Any, handler: Callable[[Any], Any], info: ValidationInfo, where: str) -> Any:
    """A wrap validator's body for a section whose ``url`` defaults to the configuration's Redis.

    Without ``url``, the section takes :func:`configured_redis`'s and notes which (``where`` is the
    section's key path); without one either, validation fails on the missing ``url`` as before.
    """
    source = None
    if isinstance(data, Mapping) and data.get("url") in (None, ""):
        found = configured_redis(info.context)
        if found is not None:
            data = {**data, "url": found[0]}
            source = found
    try:
        model = handler(data)
    except ValidationError as exc:
        raise _with_hint(exc, NO_REDIS_HINT) from None
    if source is not None:
        model.add_note(f"{where}.url is not set: using the Redis of {source[1]} ({mask_url_text(source[0])})")
    return model


NO_REDIS_HINT = "no Redis is named elsewhere in the configuration: neither the cache nor a type: redis database"


def _with_hint(exc: ValidationError, hint: str) -> ValidationError:
    """``exc`` with ``hint`` in the context of its missing-``url`` error (the loader's message shows it)."""
    details: list[InitErrorDetails] = []
    for error in exc.errors():
        detail = InitErrorDetails(type=error["type"], loc=error["loc"], input=error["input"])
        if "ctx" in error:
            detail["ctx"] = error["ctx"]
        if error["loc"] == ("url",) and error["type"] == "missing":
            detail["type"] = PydanticCustomError("missing", "Field required", {"hint": hint})
        details.append(detail)
    return ValidationError.from_exception_data(exc.title, details)
