"""How cache values are written: JSON text, plus tags for the types JSON cannot carry.

The cache stores what JSON can carry (``dict`` with ``str`` keys, ``list``, ``str``, ``int``,
``float``, ``bool``, ``None``) plus ``tuple``, ``frozenset``, ``bytes``, ``datetime``, ``date``, ``UUID`` and
``Decimal``, and every one of them reads back as the same type. Never pickle: a value read back from Redis is data and
cannot run code, whoever wrote it.

Format. A value without tagged types is plain JSON text, so an integer is stored as ``42`` and
Redis ``INCRBY`` works on it. A value holding tagged types is ``~`` followed by JSON in which each
tagged value is a one-key object: ``{"$datetime": [iso, zone, fold]}``, ``{"$date": iso}``,
``{"$uuid": hex}``, ``{"$decimal": text}``, ``{"$tuple": [...]}``, ``{"$frozenset": [...]}``,
``{"$bytes": base64}``. A caller's own dict whose single key
happens to be one of those tags is written ``{"$dict": [[key, value], ...]}`` so it cannot be taken
for a tag on the way back. No JSON text starts with ``~``, so the two forms never collide.

Types are matched exactly: a ``dict`` subclass, a ``str`` enum or a ``set`` is refused with
:class:`UnsupportedValueError` rather than silently read back as something else.

Speed. Plain JSON values (the common case: dicts of strings and numbers) are written and read by
orjson, whose output is the same JSON. orjson converts a few types on its own (a tuple to a list, a
UUID or an enum to a string, NaN to null), so it writes only values made of exactly the plain types
(:func:`encode_plain` checks); anything else takes the tagged path above, written by the standard library. orjson reads
integers beyond 64 bits as floats, so text holding such a long run of digits is read by the standard
library too (:func:`decode`), and :func:`encode_plain` tells its caller when orjson alone may read a text.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import orjson

from xcore._errors import XcoreError

TAGGED_MARK = "~"

_JSON_SCALARS: frozenset[type] = frozenset({str, int, float, bool, type(None)})
_IMMUTABLE_TAGGED: frozenset[type] = frozenset({date, UUID, Decimal, bytes})
SIMPLE_SCALARS = _JSON_SCALARS | _IMMUTABLE_TAGGED
"""Types always :func:`storable_as_is` (``datetime`` depends on its zone, so it is not here)."""
_TAGS = frozenset({"$datetime", "$date", "$uuid", "$decimal", "$tuple", "$dict", "$frozenset", "$bytes"})
SUPPORTED = (
    "dict (str keys), list, tuple, frozenset, str, int, float, bool, None, bytes, datetime, date, UUID and Decimal"
)

_orjson_dumps: Callable[[Any], bytes] = orjson.dumps
_orjson_loads = orjson.loads
_LONG_DIGITS = re.compile(rb"[0-9]{19}")
"""A run of 19 digits may be an integer orjson cannot read exactly (it reads those beyond 64 bits as floats)."""

_dumps = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode


class UnsupportedValueError(XcoreError, TypeError):
    """A value the cache cannot store; the message names where in the value the problem is."""


def storable_as_is(value: object) -> bool:
    """Whether ``value`` is immutable and reads back from JSON as an equal object of the same type.

    The memory backend keeps such values by reference (no copy, no encoding) and encodes everything
    else, so a caller mutating what it got back never changes the cache, as on Redis. Tuples and
    frozensets qualify when everything in them does.
    """
    kind = value.__class__
    if kind in SIMPLE_SCALARS:
        return True
    if kind is tuple or kind is frozenset:
        try:
            return all(storable_as_is(item) for item in value)  # type: ignore[attr-defined]
        except RecursionError:
            return False
    if kind is datetime:
        tz = value.tzinfo  # type: ignore[attr-defined]
        if tz is None:
            return True
        if tz.__class__ is timezone:  # a named fixed offset reads back unnamed, so it is encoded
            return bool(tz.tzname(None) == timezone(tz.utcoffset(None)).tzname(None))
        return tz.__class__ is ZoneInfo and tz.key is not None
    return False


_PLAIN_SCALARS: frozenset[type] = frozenset({str, int, bool, type(None)})


def _plain_tree(value: dict[Any, Any] | list[Any]) -> bool:
    """Whether ``value`` holds only str-keyed dicts, lists, str, int, bool, None and finite floats.

    Exactly what orjson writes as JSON that reads back equal and of the same types (it would write a
    tuple as a list, a UUID or an enum as a string, NaN as null): cheaper than reading its output back.
    """
    if value.__class__ is dict:
        for key, item in value.items():
            if key.__class__ is not str:
                return False
            kind = item.__class__
            if kind in _PLAIN_SCALARS:
                continue
            if kind is float:
                if item - item != 0.0:  # NaN and infinities
                    return False
            elif kind is dict or kind is list:
                if not _plain_tree(item):
                    return False
            else:
                return False
        return True
    # the dict loop again, without its key check: one loop per kind keeps that test out of the list's
    for item in value:
        kind = item.__class__
        if kind in _PLAIN_SCALARS:
            continue
        if kind is float:
            if item - item != 0.0:
                return False
        elif kind is dict or kind is list:
            if not _plain_tree(item):
                return False
        else:
            return False
    return True


def encode_plain(value: Any) -> bytes | None:
    """``value`` (a dict or a list) as plain JSON written by orjson, when that text reads back equal.

    ``None`` means the value needs the tagged form (or is not storable): call :func:`encode`. The text
    returned here is always safe to read with ``orjson.loads`` alone.
    """
    try:
        if not _plain_tree(value):
            return None
        return _orjson_dumps(value)
    except (RecursionError, TypeError):  # nested too deeply or looping; ints beyond 64 bits, lone surrogates
        return None


def encode(value: object) -> str:
    """The stored text for ``value``; raises :class:`UnsupportedValueError` for what cannot be stored."""
    kind = value.__class__
    if kind is str or kind is int or kind is bool or value is None or kind is float:
        return _dumps(value)
    if kind is dict or kind is list:
        plain = encode_plain(value)
        if plain is not None:
            return plain.decode()
    return encode_tagged(value)


def encode_tagged(value: object) -> str:
    """``value`` written by the standard library, tagged types marked (see the module docstring)."""
    tagged: list[bool] = [False]
    try:
        prepared = _prepare(value, tagged, "value")
    except RecursionError:
        raise UnsupportedValueError(
            "cannot cache this value: it is nested too deeply or contains a reference to itself"
        ) from None
    text = _dumps(prepared)
    return TAGGED_MARK + text if tagged[0] else text


def decode(data: str | bytes) -> Any:
    """The value ``encode`` produced ``data`` from: a new object on every call.

    Raises ``ValueError`` for anything else (including trailing data). ``raw_decode`` is called
    directly: ``json.loads`` on bytes spends more time sniffing the encoding than parsing a small value.
    """
    raw = data.encode() if data.__class__ is str else data
    if raw[:1] != b"~" and _LONG_DIGITS.search(raw) is None:  # type: ignore[arg-type]
        try:
            return _orjson_loads(raw)
        except orjson.JSONDecodeError:
            pass  # NaN, Infinity, lone surrogates...: the standard library reads them, or says what is wrong
    text = data.decode() if data.__class__ is bytes else data
    if text[:1] == TAGGED_MARK:
        value, end = _raw_decode_tagged(text, 1)  # type: ignore[arg-type]
    else:
        value, end = _raw_decode(text)  # type: ignore[arg-type]
    if end != len(text):
        raise ValueError(f"unexpected data after the value at position {end}")
    return value


def _prepare(value: Any, tagged: list[bool], where: str) -> Any:
    """``value`` as plain JSON data, tags in place of the other types; checks every type exactly."""
    kind = value.__class__
    if kind in _JSON_SCALARS:
        return value
    if kind is dict:
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key.__class__ is not str:
                raise UnsupportedValueError(
                    f"cannot cache {where}: dict keys must be str, found key {key!r} ({type(key).__name__}); "
                    f"JSON would read it back as a str"
                )
            out[key] = _prepare(item, tagged, f"{where}[{key!r}]")
        if len(out) == 1 and next(iter(out)) in _TAGS:
            tagged[0] = True
            return {"$dict": [[k, v] for k, v in out.items()]}
        return out
    if kind is list:
        return [_prepare(item, tagged, f"{where}[{i}]") for i, item in enumerate(value)]
    tagged[0] = True
    if kind is tuple:
        return {"$tuple": [_prepare(item, tagged, f"{where}[{i}]") for i, item in enumerate(value)]}
    if kind is frozenset:
        return {"$frozenset": [_prepare(item, tagged, f"{where}[{i}]") for i, item in enumerate(value)]}
    if kind is bytes:
        return {"$bytes": base64.b64encode(value).decode("ascii")}
    if kind is datetime:
        tz = value.tzinfo
        zone = tz.key if tz.__class__ is ZoneInfo else None
        return {"$datetime": [value.isoformat(), zone, value.fold]}
    if kind is date:
        return {"$date": value.isoformat()}
    if kind is UUID:
        return {"$uuid": value.hex}
    if kind is Decimal:
        return {"$decimal": str(value)}
    raise UnsupportedValueError(
        f"cannot cache {where}: a {kind.__module__}.{kind.__qualname__} is not storable; the cache stores "
        f"{SUPPORTED} (exact types, so subclasses, sets and bytearrays are refused). Convert it first, "
        f"e.g. model.model_dump(mode='json') or list(a_set)"
    )


def _datetime(raw: list[Any]) -> datetime:
    iso, zone, fold = raw
    moment = datetime.fromisoformat(iso)
    if zone is None:
        return moment.replace(fold=fold) if fold else moment
    return moment.replace(tzinfo=ZoneInfo(zone), fold=fold)


def _dict(pairs: list[list[Any]]) -> dict[str, Any]:
    return {key: item for key, item in pairs}


_UNTAG: dict[str, Callable[[Any], Any]] = {
    "$datetime": _datetime,
    "$date": date.fromisoformat,
    "$uuid": UUID,
    "$decimal": Decimal,
    "$tuple": tuple,
    "$frozenset": frozenset,
    "$bytes": base64.b64decode,
    "$dict": _dict,
}


def _untag(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        for key, raw in obj.items():
            convert = _UNTAG.get(key)
            if convert is not None:
                return convert(raw)
    return obj


_raw_decode = json.JSONDecoder().raw_decode
_raw_decode_tagged = json.JSONDecoder(object_hook=_untag).raw_decode
