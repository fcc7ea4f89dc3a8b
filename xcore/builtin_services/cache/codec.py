"""How cache values are written: JSON text, plus tags for the types JSON cannot carry.

The cache stores what JSON can carry (``dict`` with ``str`` keys, ``list``, ``str``, ``int``,
``float``, ``bool``, ``None``) plus ``tuple``, ``datetime``, ``date``, ``UUID`` and ``Decimal``, and
every one of them reads back as the same type. Never pickle: a value read back from Redis is data and
cannot run code, whoever wrote it.

Format. A value without tagged types is plain JSON text, so an integer is stored as ``42`` and
Redis ``INCRBY`` works on it. A value holding tagged types is ``~`` followed by JSON in which each
tagged value is a one-key object: ``{"$datetime": [iso, zone, fold]}``, ``{"$date": iso}``,
``{"$uuid": hex}``, ``{"$decimal": text}``, ``{"$tuple": [...]}``. A caller's own dict whose single key
happens to be one of those tags is written ``{"$dict": [[key, value], ...]}`` so it cannot be taken
for a tag on the way back. No JSON text starts with ``~``, so the two forms never collide.

Types are matched exactly: a ``dict`` subclass, a ``str`` enum or a ``set`` is refused with
:class:`UnsupportedValueError` rather than silently read back as something else.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

TAGGED_MARK = "~"

_JSON_SCALARS: frozenset[type] = frozenset({str, int, float, bool, type(None)})
_IMMUTABLE_TAGGED: frozenset[type] = frozenset({date, UUID, Decimal})
SIMPLE_SCALARS = _JSON_SCALARS | _IMMUTABLE_TAGGED
"""Types always :func:`storable_as_is` (``datetime`` depends on its zone, so it is not here)."""
_TAGS = frozenset({"$datetime", "$date", "$uuid", "$decimal", "$tuple", "$dict"})
SUPPORTED = "dict (str keys), list, tuple, str, int, float, bool, None, datetime, date, UUID and Decimal"

_dumps = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode


class UnsupportedValueError(TypeError):
    """A value the cache cannot store; the message names where in the value the problem is."""


def storable_as_is(value: object) -> bool:
    """Whether ``value`` is immutable and reads back from JSON as an equal object of the same type.

    The memory backend keeps such values by reference (no encoding on its hot path) and encodes
    everything else, so a caller mutating what it got back never changes the cache, as on Redis.
    """
    kind = value.__class__
    if kind in SIMPLE_SCALARS:
        return True
    if kind is datetime:
        tz = value.tzinfo  # type: ignore[attr-defined]
        if tz is None:
            return True
        if tz.__class__ is timezone:  # a named fixed offset reads back unnamed, so it is encoded
            return bool(tz.tzname(None) == timezone(tz.utcoffset(None)).tzname(None))
        return tz.__class__ is ZoneInfo and tz.key is not None
    return False


def encode(value: object) -> str:
    """The stored text for ``value``; raises :class:`UnsupportedValueError` for what cannot be stored."""
    kind = value.__class__
    if kind is str or kind is int or kind is bool or value is None or kind is float:
        return _dumps(value)
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
        f"{SUPPORTED} (exact types, so subclasses, sets and bytes are refused). Convert it first, "
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
