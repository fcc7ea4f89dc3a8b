"""Server URLs in service settings: the Redis URL type, and masking passwords in any URL text.

Kept free of client libraries: settings models and error messages of every backend use these, and
importing a backend must not import SQLAlchemy or redis-py (see :mod:`.lazy_exports`).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

from xcore.redaction import MASK, redact_text

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def check_redis_scheme(value: str) -> str:
    """``value`` if it is a URL redis-py can open, judged by its scheme."""
    if not value.startswith(REDIS_SCHEMES):
        raise ValueError(f"must start with one of {', '.join(REDIS_SCHEMES)}")
    return value


RedisUrl = Annotated[str, AfterValidator(check_redis_scheme)]
"""A settings field holding a ``redis://``, ``rediss://`` or ``unix://`` URL (cache, events, scheduler)."""


_ANY_USERINFO_PASSWORD = re.compile(r":[^:@/\s]*@")


def mask_url_text(raw: str, password: str | None = None) -> str:
    """``raw`` (a URL or a message quoting one) with every password masked, even in malformed URLs."""
    cleaned = redact_text(raw, [password] if password else [])
    return _ANY_USERINFO_PASSWORD.sub(f":{MASK}@", cleaned)
