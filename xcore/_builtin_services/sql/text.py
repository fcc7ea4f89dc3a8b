"""Running the seed's plain SQL strings unchanged on SQLAlchemy 2, PostgreSQL and SQLite.

Plugin code written for XCore passes SQL as plain strings (``session.execute("SELECT ...", {...})``),
reads rows with ``row[0]`` and ``dict(row)``, and uses ``NOW()`` and ``$1`` placeholders. SQLAlchemy 2
refuses plain strings and ``dict(row)``, SQLite has no ``NOW()`` and knows ``?1`` rather than ``$1``.
This module bridges each gap once, cheaply, so the sync and async SQL services share one behaviour:

* :class:`TextSession` is a SQLAlchemy ``Session`` that accepts SQL strings (their ``text()`` is built
  once per distinct string) and wraps the results of those strings in :class:`TextResult`.
* :class:`TextRow` adapts a SQLAlchemy ``Row`` so it is also a mapping of column name to value; it
  holds a reference to the row instead of copying it into a dict.
* :func:`register_sqlite_now` adds ``NOW()`` to a SQLite connection; :func:`numbered_to_sqlite`
  turns asyncpg-style ``$n`` placeholders into SQLite's ``?n``.

SQLAlchemy constructs (``select(...)``, ``text(...)``) pass through untouched and return SQLAlchemy's
own results: the adapters apply to the plain-string path only, so ORM code sees stock SQLAlchemy.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Result, Row, TextClause, text
from sqlalchemy.orm import Session

TEXT_CACHE_SIZE = 1024
"""Distinct SQL strings whose ``text()`` construct is kept; plugins use a bounded set of queries."""

cached_text = lru_cache(maxsize=TEXT_CACHE_SIZE)(text)
"""``text(sql)``, built once per distinct string: ``TextClause`` is immutable, so sharing is safe."""

_RETURNING = re.compile(r"\bRETURNING\b", re.IGNORECASE)


@lru_cache(maxsize=TEXT_CACHE_SIZE)
def _prepared(sql: str) -> tuple[TextClause, bool]:
    """The cached ``text(sql)`` and whether its rows must be read at once (see ``TextSession``)."""
    return cached_text(sql), _RETURNING.search(sql) is not None


class TextRow:
    """A result row that is both a sequence (``row[0]``, unpacking) and a mapping (``dict(row)``).

    ``row["name"]`` and ``row.name`` read a column by name; everything else a SQLAlchemy ``Row`` offers
    (``_mapping``, ``_asdict()``, ``_fields``) is reached through the wrapped row.
    """

    __slots__ = ("_row",)

    def __init__(self, row: Row[Any]) -> None:
        self._row = row

    def __getitem__(self, key: Any) -> Any:
        if key.__class__ is str:
            return self._row._mapping[key]
        return self._row[key]

    def keys(self) -> tuple[str, ...]:
        """Column names, in order: what makes ``dict(row)`` give names to values."""
        return self._row._fields

    def values(self) -> tuple[Any, ...]:
        return tuple(self._row)

    def items(self) -> list[tuple[str, Any]]:
        return list(zip(self._row._fields, self._row, strict=True))

    def get(self, key: str, default: Any = None) -> Any:
        return self._row._mapping.get(key, default)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._row, name)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._row)

    def __len__(self) -> int:
        return len(self._row)

    def __contains__(self, value: object) -> bool:
        return value in self._row

    def __eq__(self, other: object) -> bool:
        return self._row == (other._row if isinstance(other, TextRow) else other)

    def __hash__(self) -> int:
        return hash(self._row)

    def __repr__(self) -> str:
        return repr(self._row)


Sequence.register(TextRow)


class TextResult:
    """The result of a plain-string statement: SQLAlchemy's ``Result`` with rows as :class:`TextRow`.

    Row-returning methods wrap each row; scalar methods, ``rowcount``, ``keys()``, ``mappings()`` and
    the rest go straight to the SQLAlchemy result.
    """

    __slots__ = ("_result", "_rowcount")

    def __init__(self, result: Result[Any], rowcount: int | None = None) -> None:
        self._result = result
        self._rowcount = rowcount

    @property
    def rowcount(self) -> int:
        """Rows matched by an UPDATE or DELETE, inserted by an INSERT (``-1`` when unknown)."""
        if self._rowcount is not None:
            return self._rowcount
        count: int = getattr(self._result, "rowcount", -1)
        return count

    @property
    def raw(self) -> Result[Any]:
        """The SQLAlchemy result underneath."""
        return self._result

    def fetchone(self) -> TextRow | None:
        row = self._result.fetchone()
        return None if row is None else TextRow(row)

    def fetchall(self) -> list[TextRow]:
        return list(map(TextRow, self._result.fetchall()))

    def fetchmany(self, size: int | None = None) -> list[TextRow]:
        return list(map(TextRow, self._result.fetchmany(size)))

    def all(self) -> list[TextRow]:
        return list(map(TextRow, self._result.all()))

    def first(self) -> TextRow | None:
        row = self._result.first()
        return None if row is None else TextRow(row)

    def one(self) -> TextRow:
        return TextRow(self._result.one())

    def one_or_none(self) -> TextRow | None:
        row = self._result.one_or_none()
        return None if row is None else TextRow(row)

    def scalar(self) -> Any:
        return self._result.scalar()

    def __iter__(self) -> Iterator[TextRow]:
        return map(TextRow, self._result)

    def __enter__(self) -> TextResult:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._result.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._result, name)

    def __repr__(self) -> str:
        return f"<TextResult {self._result!r}>"


class TextSession(Session):
    """A SQLAlchemy ``Session`` whose ``execute``, ``scalar`` and ``scalars`` also accept SQL strings.

    A string is run as ``text(sql)`` with ``:name`` parameters, exactly as SQLAlchemy 1.x did, and its
    result rows support ``dict(row)``. Anything else is plain SQLAlchemy 2.

    The rows of a string statement with ``RETURNING`` are read at once: the seed commits before it
    reads the new id (``session.commit(); result.scalar()``), and SQLite refuses to commit while a
    write statement still has rows to hand out.
    """

    def execute(self, statement: Any, params: Any = None, **kw: Any) -> Any:  # type: ignore[override]
        if statement.__class__ is not str:
            return super().execute(statement, params, **kw)
        clause, buffer = _prepared(statement)
        result = super().execute(clause, params, **kw)
        if buffer:
            rowcount = getattr(result, "rowcount", -1)
            return TextResult(result.freeze()(), rowcount)
        return TextResult(result)

    def scalar(self, statement: Any, params: Any = None, **kw: Any) -> Any:  # type: ignore[override]
        if statement.__class__ is str:
            statement = cached_text(statement)
        return super().scalar(statement, params, **kw)

    def scalars(self, statement: Any, params: Any = None, **kw: Any) -> Any:  # type: ignore[override]
        if statement.__class__ is str:
            statement = cached_text(statement)
        return super().scalars(statement, params, **kw)


# --------------------------------------------------------------------------- SQLite dialect gaps


def sqlite_now() -> str:
    """``NOW()`` for SQLite: the UTC time in the text form SQLite's own ``CURRENT_TIMESTAMP`` uses,
    with microseconds, which SQLAlchemy's SQLite ``DateTime`` type reads back as a ``datetime``."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def register_sqlite_now(dbapi_connection: Any) -> None:
    """Give a ``sqlite3`` (or SQLAlchemy-adapted aiosqlite) connection a ``NOW()`` function."""
    dbapi_connection.create_function("NOW", 0, sqlite_now)


# A $n outside string literals, quoted identifiers and comments. The alternatives that match those
# regions come first so that their text is kept as is.
_PLACEHOLDER_OR_SKIP = re.compile(
    r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|/\*.*?\*/|\$(\d+)""",
    re.DOTALL,
)


def _numbered(match: re.Match[str]) -> str:
    number = match.group(1)
    return match.group(0) if number is None else f"?{number}"


@lru_cache(maxsize=TEXT_CACHE_SIZE)
def numbered_to_sqlite(sql: str) -> str:
    """asyncpg's ``$1 .. $n`` placeholders as SQLite's numbered ``?1 .. ?n``.

    Numbered (not plain ``?``) placeholders keep the meaning of a repeated or out-of-order ``$n``.
    """
    if "$" not in sql:
        return sql
    return _PLACEHOLDER_OR_SKIP.sub(_numbered, sql)
