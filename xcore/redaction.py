"""Redaction of secrets in config output and log lines.

A value is secret when its key looks like one (``password``, ``secret``, ``token``, ``api_key``...)
or when it is the password part of a URL. At boot the host registers every secret value of its
config with :func:`install_redaction`, so even a driver's exception text quoting a URL is cleaned
before it reaches any log handler; the CLI and HTTP output go through :func:`redact`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
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


def describe_exception(exc: BaseException, secrets: Iterable[str] = ()) -> str:
    """``Type: message`` with URL passwords and the given secrets masked: errors shown to users."""
    text = redact_text(str(exc), secrets)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


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


_active: list[set[str]] = []
_base_factory: Callable[..., logging.LogRecord] | None = None


def _redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    assert _base_factory is not None
    record = _base_factory(*args, **kwargs)
    secrets = set().union(*_active)
    message = record.getMessage()
    cleaned = redact_text(message, secrets)
    if cleaned != message:
        record.msg, record.args = cleaned, None
    if record.exc_info and record.exc_info[1] is not None:
        record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info), secrets)
    return record


def active_secrets() -> set[str]:
    """The secret values of every booted host's config in this process (what log lines mask)."""
    return set().union(*_active)


def install_redaction(config: Any) -> Callable[[], None]:
    """Mask this config's secrets (and any URL password) in every log record of the process.

    Works at record creation, so it covers every logger and handler, including libraries' and
    handlers added later. Returns the function that removes this config's secrets again.
    """
    global _base_factory
    secrets = secret_values(config)
    if _base_factory is None:
        _base_factory = logging.getLogRecordFactory()
        logging.setLogRecordFactory(_redacting_factory)
    _active.append(secrets)

    def undo() -> None:
        for index, item in enumerate(_active):
            if item is secrets:
                del _active[index]
                return

    return undo
