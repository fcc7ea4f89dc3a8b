"""The run-time half of typed service access: ``get_service(name, Type)`` checks what it hands out.

A type annotation alone would let ``db: AsyncSqlDatabase = get_service("db")`` pass the type
checker and fail later, far from the cause, when the config makes ``db`` a synchronous database.
Checking at lookup time turns that into one error naming the service and both types.
"""

from __future__ import annotations

from typing import Any


def _names(kind: type[Any] | tuple[type[Any], ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


def checked_service(name: str, service: Any, kind: type[Any] | tuple[type[Any], ...]) -> Any:
    """``service`` if it is an instance of ``kind`` (a class, a runtime-checkable protocol or a tuple)."""
    try:
        matches = isinstance(service, kind)
    except TypeError as exc:  # e.g. a Protocol without @runtime_checkable
        raise TypeError(f"get_service({name!r}, {_names(kind)}): {exc}") from None
    if not matches:
        raise TypeError(
            f"service {name!r} is a {type(service).__module__}.{type(service).__qualname__}, "
            f"not {_names(kind)}: check the type configured for it in integration.yaml"
        )
    return service
