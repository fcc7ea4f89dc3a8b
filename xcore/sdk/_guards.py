"""``@validate_payload(Model)`` and ``@require_service(...)``: the original XCore SDK's guards for
action methods.

``validate_payload`` validates the payload with a pydantic model before the method runs. The
method receives the model instance, or (when its payload parameter is annotated ``dict``) the
validated data as a dict; an invalid payload answers ``error(..., code="validation_error")`` with
each field's problem, never the submitted values (they may be passwords).

``require_service`` checks that the named services exist before the method runs, raising the same
``KeyError`` (``ServiceNotFoundError``, listing the known services) as ``get_service`` would.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from xcore._errors import ServiceNotFoundError
from xcore.sdk._responses import error

Method = Callable[..., Awaitable[Any]]
M = TypeVar("M", bound=Method)


def _wants_dict(fn: Method) -> bool:
    params = list(inspect.signature(fn).parameters.values())
    if len(params) < 2:
        return False
    annotation = params[1].annotation
    if isinstance(annotation, str):
        return annotation.replace(" ", "").startswith(("dict", "Dict"))
    return annotation is dict or getattr(annotation, "__origin__", None) is dict


def validate_payload(model: type[BaseModel]) -> Callable[[M], M]:
    """Validate an action method's payload with ``model`` (see the module doc)."""

    def decorate(fn: M) -> M:
        as_dict = _wants_dict(fn)

        @functools.wraps(fn)
        async def validated(self: Any, payload: Any, *args: Any, **kwargs: Any) -> Any:
            if isinstance(payload, model):
                value = payload
            else:
                try:
                    value = model.model_validate(payload)
                except ValidationError as exc:
                    problems = [
                        {"field": ".".join(str(p) for p in e["loc"]) or "(payload)", "error": e["msg"]}
                        for e in exc.errors(include_url=False, include_input=False)
                    ]
                    text = "; ".join(f"{p['field']}: {p['error']}" for p in problems)
                    return error(f"invalid payload: {text}", code="validation_error", errors=problems)
            return await fn(self, value.model_dump() if as_dict else value, *args, **kwargs)

        return validated  # type: ignore[return-value]

    return decorate


def require_service(*names: str) -> Callable[[M], M]:
    """Refuse to run the method unless every service in ``names`` exists."""

    def decorate(fn: M) -> M:
        @functools.wraps(fn)
        async def guarded(self: Any, *args: Any, **kwargs: Any) -> Any:
            services = self.ctx.services
            missing = [name for name in names if name not in services]
            if missing:
                raise ServiceNotFoundError(missing[0], list(services))
            return await fn(self, *args, **kwargs)

        return guarded  # type: ignore[return-value]

    return decorate


__all__ = ["require_service", "validate_payload"]
