"""Mounting a plugin's ``APIRouter`` on the app so its routes cost what directly declared routes cost.

FastAPI (0.165 and later) keeps an included router as one lazy ``_IncludedRouter`` route: every request
to it is matched twice (the wrapper, then the router's own routes) and resolved through a per-inclusion
context, about 20% more per request than the same route declared with ``@app.get``. A plugin router
is mounted once at boot and never changes afterwards, so the host declares each of its routes directly
on the app instead, the way ``include_router`` itself did before it became lazy: the same endpoint,
with every option the route carries (its router's prefix, dependencies, tags, responses, response
model and class, callbacks, body limits...), under ``{plugin_prefix}/{name}`` and tagged with the
plugin's name.

Routes of a kind that has no direct equivalent here (a router included inside the plugin's router, a
``Mount``, a ``Host``) are left to ``include_router`` for the whole router, so behaviour never
depends on this shortcut; only speed does.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.routing import BaseRoute

log = logging.getLogger("xcore.web")

# What an APIRoute keeps of the options it was declared with, by constructor parameter name.
_ROUTE_OPTIONS = (
    "response_model", "status_code", "summary", "description", "response_description", "responses",
    "deprecated", "name", "methods", "operation_id", "response_model_include", "response_model_exclude",
    "response_model_by_alias", "response_model_exclude_unset", "response_model_exclude_defaults",
    "response_model_exclude_none", "include_in_schema", "response_class", "callbacks", "openapi_extra",
    "generate_unique_id_function", "strict_content_type", "max_body_size",
)  # fmt: skip


_accepted_by: dict[type[APIRoute], frozenset[str]] = {}


def _accepted(route_class: type[APIRoute]) -> frozenset[str]:
    """The keyword arguments ``route_class`` accepts (custom route classes and older FastAPI take fewer)."""
    if route_class not in _accepted_by:
        parameters = inspect.signature(route_class.__init__).parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
            parameters = inspect.signature(APIRoute.__init__).parameters
        _accepted_by[route_class] = frozenset(parameters)
    return _accepted_by[route_class]


def directly_mountable(router: APIRouter) -> bool:
    """Whether every route of ``router`` can be declared directly on the app (see the module docstring)."""
    return all(isinstance(route, APIRoute | APIWebSocketRoute) for route in router.routes)


def mount_plugin_router(app: FastAPI, router: APIRouter, prefix: str, tag: str | None) -> list[BaseRoute]:
    """Serve ``router``'s routes under ``prefix``, tagged ``tag`` (if given), as if declared on ``app`` itself.

    Returns the route objects added to ``app.router.routes``: exactly what a runtime disable removes
    again (:mod:`xcore._host.runtime`).
    """
    before = set(map(id, app.router.routes))
    _mount(app, router, prefix, tag)
    return [route for route in app.router.routes if id(route) not in before]


def _mount(app: FastAPI, router: APIRouter, prefix: str, tag: str | None) -> None:
    if not directly_mountable(router):
        kinds = sorted({type(r).__name__ for r in router.routes if not isinstance(r, APIRoute | APIWebSocketRoute)})
        log.debug("router for %s holds %s: included with include_router", prefix, ", ".join(kinds))
        app.include_router(router, prefix=prefix, tags=[tag] if tag else None)
        return
    form_limits = getattr(router, "form_limits", None)
    for route in router.routes:
        if isinstance(route, APIRoute):
            app.router.add_api_route(prefix + route.path, route.endpoint, **_api_route_options(route, tag, form_limits))
        else:
            assert isinstance(route, APIWebSocketRoute)
            app.router.add_api_websocket_route(
                prefix + route.path, route.endpoint, name=route.name, dependencies=route.dependencies
            )


def _api_route_options(route: APIRoute, tag: str | None, router_form_limits: Any) -> dict[str, Any]:
    """``add_api_route`` keywords reproducing ``route`` (its router's options are already folded into it)."""
    accepted = _accepted(type(route))
    options: dict[str, Any] = {name: getattr(route, name) for name in _ROUTE_OPTIONS if name in accepted}
    options["tags"] = [tag, *route.tags] if tag else list(route.tags)
    options["dependencies"] = list(route.dependencies)
    if "form_limits" in accepted:
        # A router's form limits apply to its requests at inclusion; a route's own ones are more specific.
        options["form_limits"] = {**(router_form_limits or {}), **(getattr(route, "form_limits", None) or {})} or None
    if type(route) is not APIRoute:
        options["route_class_override"] = type(route)
    return options
