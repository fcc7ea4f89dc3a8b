"""Redaction of secrets in config output and log lines.

A value is secret when its key looks like one (``password``, ``secret``, ``token``, ``api_key``...),
when it is the password part of a URL (``scheme://user:password@host``), or when it is the value of
a URL query parameter whose name looks like a credential (``?password=``, ``&token=``, ``?key=``,
``?sslpassword=``..., in any case). At boot the host registers every secret value of its config with
:func:`install_redaction`, so even a driver's exception text quoting a password is cleaned before it
reaches any log handler, and a secret repeated under an innocent key is masked too; the CLI and HTTP
output go through :func:`redact` and :func:`redact_text`.

Every log record of the process passes through :func:`redact_text`, uvicorn's access log (which
quotes the client's query string) included, so its cost must be linear in the text: each pattern
below starts at a literal or a single-character class and cannot backtrack over more than the run it
just scanned. A pattern that starts with a repeated class (``[a-z][a-z0-9+.-]*://``) is retried at
every position of a long run of letters, which made one 80,000-character request stall the server.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import lru_cache
from typing import Any
from urllib.parse import quote, unquote

MASK = "***"
_SECRET_KEY = re.compile(
    r"pass(word|wd|phrase)?|pwd|secret|token|(api|admin|access|private)[_-]?key|credential", re.IGNORECASE
)
_SECRET_PARAMETER_WORDS = frozenset({"key", "sig", "signature", "auth"})
"""Query parameter names (or their last ``_``/``-``/``.`` part) that are credentials in URLs only:
``?key=`` is an API key in a URL, while a config key named ``key_prefix`` is not a secret."""

_NAME_PARTS = re.compile(r"[_.\-]")
_URL_PASSWORD = re.compile(r"(?P<head>://[^:/@\s]*:)(?P<pw>[^@\s/]+)(?P<tail>@)")
_PARAMETER_NAME = re.compile(r"[?&;]([A-Za-z0-9_.\-]{1,64})=")
_PARAMETER_VALUE = re.compile(r"[^&;#\s'\"<>]*")


def is_secret_key(key: object) -> bool:
    """Whether a config key names a secret (its value is masked in output and in every log line)."""
    return isinstance(key, str) and bool(_SECRET_KEY.search(key))


@lru_cache(maxsize=1024)
def is_secret_parameter(name: str) -> bool:
    """Whether a URL query parameter carries a credential: every secret key, plus ``key``, ``sig``...

    Cached: the same few names come back in log line after log line (names are at most 64 characters).
    """
    return is_secret_key(name) or _NAME_PARTS.split(name.lower())[-1] in _SECRET_PARAMETER_WORDS


def _credential_values(text: str) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of each credential query parameter's value in ``text``.

    The value of any other parameter is scanned again, so a URL quoted inside one
    (``?next=redis://h/0?password=...``) is seen; a credential's value runs to the next ``&``, ``;``,
    ``#``, space or quote, ``?`` included, so a password holding one is masked whole.
    """
    position = 0
    while (match := _PARAMETER_NAME.search(text, position)) is not None:
        position = match.end()
        if is_secret_parameter(match[1]):
            value = _PARAMETER_VALUE.match(text, position)
            end = value.end() if value is not None else position
            if end > position:
                yield position, end
                position = end


def _mask_parameters(text: str) -> str:
    pieces: list[str] = []
    kept = 0
    for start, end in _credential_values(text):
        pieces += (text[kept:start], MASK)
        kept = end
    return "".join((*pieces, text[kept:])) if pieces else text


def _mask_password(match: re.Match[str]) -> str:
    return f"{match['head']}{MASK}{match['tail']}"


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with URL passwords, credential query parameters and the given secret values masked.

    Linear in ``len(text)`` (times the number of ``secrets``): it runs on every log record.
    """
    return _mask(text, sorted(secrets, key=len, reverse=True))  # a secret containing another goes first


def _mask(text: str, ordered_secrets: Sequence[str]) -> str:
    """:func:`redact_text` with the secrets already ordered longest first (the log path keeps them so)."""
    if "://" in text:
        text = _URL_PASSWORD.sub(_mask_password, text)
    if "=" in text:
        text = _mask_parameters(text)
    for secret in ordered_secrets:
        if secret and secret in text:
            text = text.replace(secret, MASK)
    return text


def describe_exception(exc: BaseException, secrets: Iterable[str] = ()) -> str:
    """``Type: message`` with URL passwords and the given secrets masked: errors shown to users."""
    text = redact_text(str(exc), secrets)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def redact(tree: Any, key: object = None, secrets: Iterable[str] | None = None) -> Any:
    """A copy of a config tree with secret values masked, for printing.

    Values under secret keys become :data:`MASK`; in every other string, URL passwords,
    credential query parameters and every secret value found anywhere in ``tree`` (or the given
    ``secrets``) are masked, so a password repeated under an innocent key is not printed either.
    """
    return _redact(tree, key, list(secret_values(tree, key) if secrets is None else secrets))


def _redact(tree: Any, key: object, secrets: list[str]) -> Any:
    if isinstance(tree, Mapping):
        return {k: _redact(v, k, secrets) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_redact(v, key, secrets) for v in tree]
    if tree is None or tree == "":
        return tree
    if is_secret_key(key):
        return MASK
    if isinstance(tree, str):
        return redact_text(tree, secrets)
    return tree


def secret_values(tree: Any, key: object = None) -> set[str]:
    """Every secret string in a config tree: values under secret keys, URL passwords and credential
    query parameters, each also in its percent-decoded and percent-encoded spelling (a driver may
    quote either)."""
    found: set[str] = set()
    if isinstance(tree, Mapping):
        for k, v in tree.items():
            found |= secret_values(v, k)
    elif isinstance(tree, list):
        for v in tree:
            found |= secret_values(v, key)
    elif isinstance(tree, (str, int, float)) and not isinstance(tree, bool):
        text = str(tree)
        if is_secret_key(key):
            found.add(text)
        if "://" in text:
            found.update(match["pw"] for match in _URL_PASSWORD.finditer(text))
        if "=" in text:
            found.update(text[start:end] for start, end in _credential_values(text))
    decoded = {unquote(s) for s in found}
    spellings = found | decoded | {quote(s, safe="") for s in decoded}
    return {s for s in spellings if len(s) >= 3}


_active: list[set[str]] = []
_ordered: tuple[str, ...] = ()
"""Every secret of :data:`_active`, longest first: computed when a config comes or goes, not per record."""
_base_factory: Callable[..., logging.LogRecord] | None = None


def _redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    assert _base_factory is not None
    record = _base_factory(*args, **kwargs)
    secrets = _ordered
    message = record.getMessage()
    cleaned = _mask(message, secrets)
    if cleaned != message:
        _redact_record(record, cleaned, secrets)
    if record.exc_info and record.exc_info[1] is not None:
        record.exc_text = _mask(logging.Formatter().formatException(record.exc_info), secrets)
    return record


def active_secrets() -> set[str]:
    """The secret values of every booted host's config in this process (what log lines mask)."""
    return set().union(*_active)


def _redact_record(record: logging.LogRecord, cleaned: str, secrets: Sequence[str]) -> None:
    """Mask a record's format string and string arguments one by one, so formatters that read
    ``record.args`` (uvicorn's access log unpacks them) keep working; unless that gives exactly the
    cleaned message (a secret split between the format and an argument, an argument that is not a
    string), the record becomes the cleaned message without arguments."""
    if isinstance(record.msg, str) and isinstance(record.args, (tuple, Mapping)) and record.args:
        msg = _mask(record.msg, secrets)
        if isinstance(record.args, tuple):
            parts: Any = tuple(_mask(a, secrets) if isinstance(a, str) else a for a in record.args)
        else:
            parts = {k: _mask(a, secrets) if isinstance(a, str) else a for k, a in record.args.items()}
        try:
            formatted = msg % parts
        except (TypeError, ValueError, KeyError):
            formatted = None
        if formatted == cleaned:
            record.msg, record.args = msg, parts
            return
    record.msg, record.args = cleaned, None


def _reorder() -> None:
    global _ordered
    _ordered = tuple(sorted(set().union(*_active), key=len, reverse=True))


def install_redaction(config: Any) -> Callable[[], None]:
    """Mask this config's secrets (and any URL password) in every log record of the process.

    Works at record creation, so it covers every logger and handler, including libraries' and
    handlers added later. Returns the function that removes this config's secrets again; once no
    config is left (every host shut down), it restores the record factory the process had.
    """
    global _base_factory
    secrets = secret_values(config)
    if _base_factory is None:
        _base_factory = logging.getLogRecordFactory()
        logging.setLogRecordFactory(_redacting_factory)
    _active.append(secrets)
    _reorder()

    def undo() -> None:
        global _base_factory
        for index, item in enumerate(_active):
            if item is secrets:
                del _active[index]
                _reorder()
                break
        # The last host is gone: give the process its own factory back (unless something wrapped ours since).
        if not _active and _base_factory is not None and logging.getLogRecordFactory() is _redacting_factory:
            logging.setLogRecordFactory(_base_factory)
            _base_factory = None

    return undo
