"""One client span per SQL statement of the ``sql`` and ``sqlasync`` services (``app.tracing``).

Named ``sql SELECT`` (the statement's first keyword; ``sql OTHER`` for one outside
:data:`OPERATIONS`), with ``db.system.name`` (``postgresql``, ``sqlite``...), ``db.operation.name``,
``xcore.service`` (the database's configured name) and ``xcore.plugin`` when the statement runs inside
a plugin's service call or block (:mod:`.service_spans`). Never the statement's text nor its
parameters: an author may inline a literal (a token, a password hash), and a database error's message
quotes both, so a failure records only the exception's type (:func:`.tracing.failed`).

Recorded through SQLAlchemy's ``before_cursor_execute``/``after_cursor_execute``/``handle_error``
events on the engines the services build, attached only when tracing is on (:func:`watch`), so an
untraced host runs no listener. A statement outside any span (a health probe, the persistent
scheduler polling its job store) gets none: it belongs to no trace. ``sqlasync``'s ``connection()``
talks to asyncpg or aiosqlite directly, not through SQLAlchemy; its statements are covered by the
``<db>.connection`` span of their block. ``opentelemetry-instrumentation-sqlalchemy`` uses the same
events but records the statement text (``db.statement``) and the error's message, which is why XCore
does not use it.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Engine, event

from xcore._observability import tracing

OPERATIONS = frozenset({
    "SELECT", "INSERT", "UPDATE", "DELETE", "MERGE", "WITH", "VALUES", "CREATE", "ALTER", "DROP", "TRUNCATE",
    "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "SET", "SHOW", "EXPLAIN", "ANALYZE", "VACUUM",
    "PRAGMA", "COPY", "LOCK", "GRANT", "REVOKE", "CALL", "DO", "LISTEN", "NOTIFY", "UNLISTEN", "PREPARE",
    "EXECUTE", "DEALLOCATE", "DISCARD", "DECLARE", "FETCH", "CLOSE", "MOVE", "REINDEX", "CLUSTER", "COMMENT",
    "REFRESH", "REPLACE", "ATTACH", "DETACH", "RESET", "CHECKPOINT",
})  # fmt: skip
"""Keywords a span may be named by: a first word outside them is shown as ``OTHER``, never as written."""

_FIRST_WORD = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/|\()*([A-Za-z]+)", re.DOTALL)
_SPAN = "_xcore_span"


def operation(statement: object) -> str:
    """The statement's first keyword (past blanks, comments and parentheses), upper-cased, or ``OTHER``."""
    found = _FIRST_WORD.match(statement) if isinstance(statement, str) else None
    word = found.group(1).upper() if found else ""
    return word if word in OPERATIONS else "OTHER"


def watch(engine: Engine, service: str) -> None:
    """Span each statement ``engine`` runs, as database ``service`` (nothing while tracing is off)."""
    if tracing.TRACER is None:
        return
    system = engine.dialect.name

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        tracer = tracing.TRACER
        if tracer is None or context is None:
            return
        from opentelemetry import trace

        if not trace.get_current_span().get_span_context().is_valid:
            return
        from xcore._observability.service_spans import current_plugin

        name = operation(statement)
        attributes = {"db.system.name": system, "db.operation.name": name, "xcore.service": service}
        if plugin := current_plugin():
            attributes[tracing.PLUGIN] = plugin
        setattr(context, _SPAN, tracer.start_span(f"sql {name}", kind=trace.SpanKind.CLIENT, attributes=attributes))

    def after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        span = getattr(context, _SPAN, None)
        if span is not None:
            setattr(context, _SPAN, None)
            span.end()

    def failed(error: Any) -> None:
        span = getattr(error.execution_context, _SPAN, None)
        if span is not None:
            setattr(error.execution_context, _SPAN, None)
            tracing.failed(span, error.original_exception)
            span.end()

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    event.listen(engine, "handle_error", failed, insert=True)  # before a handler that replaces the error
