"""Redaction of secrets in config output and log lines.

A value is secret when its key looks like one (``password``, ``secret``, ``token``, ``api_key``...)
or when it is the password part of a URL. The host registers every secret value of the loaded
config with :class:`RedactingFilter`, so even a driver's exception text quoting a URL is cleaned
before it reaches a log line, the CLI or an HTTP body.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"
_SECRET_KEY = re.compile(r"(pass(word|wd)?|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential)",
                         re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s/]+)(?P<tail>@)")


def is_secret_key(key: object) -> bool:
    return isinstance(key, str) and bool(_SECRET_KEY.search(key))


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with URL passwords and the given secret values masked."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}{MASK}{m['tail']}", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


def redact(tree: Any, key: object = None) -> Any:
    """A copy of a config tree with secret values masked, for printing."""
    if isinstance(tree, Mapping):
        return {k: redact(v, k) for k, v in tree.items()}
    if isinstance(tree, list):
        return [redact(v, key) for v in tree]
    if tree is None or tree == "":
        return tree
    if is_secret_key(key):
        return MASK
    if isinstance(tree, str):
        return redact_text(tree)
    return tree


def secret_values(tree: Any, key: object = None) -> set[str]:
    """Every secret string in a config tree: values under secret keys and URL passwords."""
    found: set[str] = set()
    if isinstance(tree, Mapping):
        for k, v in tree.items():
            found |= secret_values(v, k)
    elif isinstance(tree, list):
        for v in tree:
            found |= secret_values(v, key)
    elif isinstance(tree, str) and tree:
        if is_secret_key(key):
            found.add(tree)
        for match in _URL_PASSWORD.finditer(tree):
            found.add(match["pw"])
    return {s for s in found if len(s) >= 3}


class RedactingFilter(logging.Filter):
    """A logging filter that masks secrets in the formatted message and exception text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: set[str] = set(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact_text(message, self.secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact_text(text, self.secrets)
        return True
