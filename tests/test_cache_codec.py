"""The cache codec: every supported type reads back as itself; anything else fails clearly."""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from xcore._builtin_services.cache.codec import UnsupportedValueError, decode, encode, encode_plain, storable_as_is
from xcore._builtin_services.cache.keyglob import compile_glob, escape

PARIS = ZoneInfo("Europe/Paris")

ROUND_TRIPS = [
    None,
    True,
    0,
    -(2**70),
    1.5,
    float("inf"),
    "",
    "héllo \ud800 \x00",
    [],
    {},
    [1, "a", None, [2.5, {"x": False}]],
    {"nested": {"list": [1, 2], "none": None}},
    (1, "two", (3,)),
    frozenset({1, "two", (3, b"\x00")}),
    b"\x00\xffbytes",
    {"blob": b"", "ids": frozenset()},
    2**63,
    -(2**63) - 1,
    {"big": 10**30, "small": -(10**19)},
    [1.0, -0.0, 1e300, 5e-324],
    {"nan": float("nan"), "inf": float("-inf")},
    datetime(2024, 5, 1, 12, 30, 15, 123456),
    datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
    datetime(2024, 5, 1, 12, 30, tzinfo=timezone(timedelta(hours=-3, minutes=-30))),
    datetime(2024, 5, 1, 12, 30, tzinfo=PARIS),
    date(1999, 12, 31),
    UUID("12345678-1234-5678-1234-567812345678"),
    Decimal("10.50"),
    Decimal("-0"),
    Decimal("NaN"),
    {"$date": "2024-01-01"},
    {"$tuple": [1, 2]},
    {"$dict": [["a", 1]]},
    [{"$uuid": "not a uuid"}],
    {"$datetime": "x", "other": 1},
    {"when": datetime(2024, 1, 1, tzinfo=PARIS), "ids": (UUID(int=1), Decimal("1e-7"))},
]


def same(a: object, b: object) -> bool:
    """Equal, and of the same types all the way down (``1 == 1.0 == True`` would hide bugs)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)  # type: ignore[index]
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))  # type: ignore[arg-type]
    if isinstance(a, datetime):
        return a == b and a.tzinfo == b.tzinfo and a.fold == b.fold and a.utcoffset() == b.utcoffset()  # type: ignore[attr-defined]
    if isinstance(a, Decimal) and a.is_nan():
        return b.is_nan()  # type: ignore[attr-defined]
    if isinstance(a, float) and a != a:
        return b != b
    if isinstance(a, frozenset):
        return a == b and sorted(map(repr, a)) == sorted(map(repr, b))  # type: ignore[arg-type]
    return a == b


@pytest.mark.parametrize("value", ROUND_TRIPS, ids=repr)
def test_values_read_back_as_the_same_types(value: object) -> None:
    text = encode(value)
    assert same(decode(text), value)
    assert same(decode(text.encode()), value)  # Redis hands back bytes


def test_zoned_datetimes_keep_their_zone_and_fold() -> None:
    ambiguous = datetime(2021, 10, 31, 2, 30, tzinfo=PARIS, fold=1)  # the second 02:30 of the DST change
    back = decode(encode(ambiguous))
    assert back.tzinfo is PARIS
    assert back.fold == 1
    assert back.utcoffset() == timedelta(hours=1)


def test_nan_round_trips() -> None:
    back = decode(encode(float("nan")))
    assert back != back


def test_integers_are_plain_json_so_redis_incr_works_on_them() -> None:
    assert encode(42) == "42"
    assert encode({"a": 1}) == '{"a":1}'


def test_tagged_values_are_marked_and_plain_json_is_not() -> None:
    assert encode(date(2024, 1, 1)).startswith("~")
    assert not encode({"a": [1, "~x"]}).startswith("~")
    assert decode('"~not tagged"') == "~not tagged"


def test_decoding_never_runs_code() -> None:
    # what a pickle payload would look like read back: plain data, or an error, never execution
    with pytest.raises(ValueError):
        decode(b"\x80\x04\x95cos\nsystem\n")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({1, 2}, "value: a builtins.set is not storable"),
        (bytearray(b"bytes"), "value: a builtins.bytearray is not storable"),
        (frozenset({Enum("Size", "BIG").BIG}), "is not storable"),
        ({"a": [1, object()]}, "value['a'][1]: a builtins.object"),
        ({1: "x"}, "dict keys must be str, found key 1 (int)"),
        ({"a": {None: 1}}, "value['a']: dict keys must be str"),
        (OrderedDict(a=1), "collections.OrderedDict is not storable"),
        (Enum("Colour", "RED").RED, "is not storable"),
        (timedelta(seconds=1), "datetime.timedelta is not storable"),
    ],
)
def test_unstorable_values_fail_with_a_clear_error(value: object, message: str) -> None:
    with pytest.raises(UnsupportedValueError, match=re.escape(message)) as info:
        encode(value)
    assert "the cache stores dict (str keys), list, tuple" in str(info.value) or "dict keys" in str(info.value)


def test_self_referencing_values_fail_with_a_clear_error() -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(UnsupportedValueError, match="reference to itself"):
        encode(loop)


def test_storable_as_is_only_for_immutables_that_read_back_identical() -> None:
    assert all(storable_as_is(v) for v in (None, 1, 1.5, True, "s", date.today(), UUID(int=3), Decimal(1)))
    assert storable_as_is(datetime(2024, 1, 1, tzinfo=PARIS))
    assert not storable_as_is(datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=1), "CET")))  # name is lost
    assert all(storable_as_is(v) for v in (b"x", (1, "a", (b"b", None)), frozenset({1, (2, "3")}), ()))
    assert not any(storable_as_is(v) for v in ([], {}, ([1],), (1, {}), {1}, frozenset({(1, timedelta(1))})))


def test_plain_containers_are_written_by_orjson_as_the_same_json() -> None:
    value = {"id": 42, "name": "héllo", "tags": ["a", "b"], "ok": True, "none": None, "f": 1.5}
    assert encode(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    assert encode_plain(value) is not None


@pytest.mark.parametrize(
    "value",
    [
        {"t": (1, 2)},
        [UUID(int=1)],
        {"n": float("nan")},
        [10**20],
        {"s": "\ud800"},
        [Enum("Plain", "A").A],
        {"d": Decimal(1)},
        {"a": {"b": [1, (2,)]}},
        [{"inf": float("inf")}],
        {type("Key", (str,), {})("k"): 1},
        [True, 1, type("Int", (int,), {})(2)],
    ],
    ids=repr,
)
def test_what_orjson_would_change_takes_the_tagged_path(value: object) -> None:
    """orjson writes tuples as lists, UUIDs and enums as strings, NaN as null: those never take its path."""
    assert encode_plain(value) is None


def test_long_integers_in_plain_text_are_read_exactly() -> None:
    # orjson would read these as floats; the codec hands such text to the standard library
    assert same(decode("[18446744073709551616, -9223372036854775809]"), [2**64, -(2**63) - 1])
    assert same(decode(b"9223372036854775807"), 2**63 - 1)


def test_decoded_output_is_valid_json_apart_from_the_mark() -> None:
    text = encode({"d": Decimal("1.1"), "t": (1,)})
    assert json.loads(text[1:]) == {"d": {"$decimal": "1.1"}, "t": {"$tuple": [1]}}


# --------------------------------------------------------------------------- Redis-style globs


@pytest.mark.parametrize(
    ("pattern", "matches", "misses"),
    [
        ("users:page:*", ["users:page:1", "users:page:", "users:page:a:b"], ["users:list", "xusers:page:1"]),
        ("user:?", ["user:1"], ["user:12", "user:"]),
        ("h[ae]llo", ["hallo", "hello"], ["hillo"]),
        ("h[^e]llo", ["hallo"], ["hello"]),
        ("h[a-c]llo", ["hbllo"], ["hdllo"]),
        (r"lit\*eral", ["lit*eral"], ["litXeral"]),
        ("open[bracket", ["open[bracket"], ["openbbracket"]),
        ("multi\nline*", ["multi\nline\nx"], []),
    ],
)
def test_globs_match_like_redis(pattern: str, matches: list[str], misses: list[str]) -> None:
    compiled = compile_glob(pattern)
    assert all(compiled.fullmatch(key) for key in matches)
    assert not any(compiled.fullmatch(key) for key in misses)


def test_escaped_text_matches_only_itself() -> None:
    prefix = "shop[eu]*?\\"
    compiled = compile_glob(escape(prefix) + ":*")
    assert compiled.fullmatch(prefix + ":k")
    assert not compiled.fullmatch("shope:k")
