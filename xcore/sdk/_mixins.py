"""The original XCore SDK's mixins, each the old spelling of what ``TrustedBase`` does.

``AutoDispatchMixin``: ``TrustedBase.handle`` already dispatches to ``@action`` methods, so the
mixin adds nothing and exists so ``class Plugin(AutoDispatchMixin, TrustedBase)`` runs.

``RoutedPlugin`` with ``@route(path, method=...)``: ``get_router()`` built from the marked methods,
one ``APIRouter`` route each (mounted, like any router, under ``/plugins/<name>``). It is still the
one way a plugin serves HTTP (``get_router``), written declaratively::

    class Plugin(RoutedPlugin, TrustedBase):
        @route("/items/{item_id}", method="GET", tags=["items"])
        async def get_item(self, item_id: int) -> dict: ...
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from fastapi import APIRouter

F = TypeVar("F", bound=Callable[..., Any])

_ROUTES = "__xcore_routes__"


class AutoDispatchMixin:
    """The original's dispatch mixin: ``TrustedBase`` dispatches ``@action`` methods by itself."""


@dataclass(frozen=True)
class RouteMark:
    path: str
    methods: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)


def route(
    path: str,
    method: str | Sequence[str] = "GET",
    *,
    tags: list[str] | None = None,
    summary: str | None = None,
    status_code: int | None = None,
    response_model: Any = None,
    **options: Any,
) -> Callable[[F], F]:
    """Serve the decorated method at ``path`` (relative to the plugin's prefix) for ``method``."""
    methods = (method,) if isinstance(method, str) else tuple(method)
    options.update(tags=tags, summary=summary, status_code=status_code, response_model=response_model)
    given = {k: v for k, v in options.items() if v is not None}

    def mark(func: F) -> F:
        setattr(func, _ROUTES, [*getattr(func, _ROUTES, ()), RouteMark(path, tuple(m.upper() for m in methods), given)])
        return func

    return mark


class RoutedPlugin:
    """Builds ``get_router()`` from the plugin's ``@route`` methods (see the module doc)."""

    def get_router(self) -> APIRouter | None:
        from fastapi import APIRouter

        marked: list[tuple[str, RouteMark]] = []
        seen: set[str] = set()
        for klass in type(self).__mro__:
            for attr, value in vars(klass).items():
                if attr not in seen:
                    seen.add(attr)
                    marked += [(attr, m) for m in getattr(value, _ROUTES, ())]
        if not marked:
            return None
        router = APIRouter()
        for attr, mark in marked:
            router.add_api_route(mark.path, getattr(self, attr), methods=list(mark.methods), **mark.options)
        return router


__all__ = ["AutoDispatchMixin", "RouteMark", "RoutedPlugin", "route"]
