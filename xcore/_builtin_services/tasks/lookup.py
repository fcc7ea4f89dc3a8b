"""Find a plugin's ``@task`` methods by name, on the live plugin instance (never a stored copy)."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any
from weakref import WeakKeyDictionary

from xcore._builtin_services.tasks.model import UnknownTaskError
from xcore.sdk._tasks import TASK_MARK

_by_class: WeakKeyDictionary[type, dict[str, str]] = WeakKeyDictionary()


def task_names(instance: object) -> dict[str, str]:
    """``{task name: attribute name}`` of a plugin instance (or a plugin module)."""
    if isinstance(instance, ModuleType):
        return _scan(vars(instance))
    cls = type(instance)
    found = _by_class.get(cls)
    if found is None:
        found = {}
        for klass in reversed(cls.__mro__):
            found.update(_scan(vars(klass)))
        _by_class[cls] = found
    return found


def _scan(namespace: Any) -> dict[str, str]:
    found: dict[str, str] = {}
    for attribute, value in dict(namespace).items():
        name = getattr(getattr(value, "__func__", value), TASK_MARK, None)
        if isinstance(name, str):
            found[name] = attribute
    return found


def find_task(plugin: str, instance: object, name: str) -> Callable[..., Any]:
    """The bound task method; :class:`UnknownTaskError` naming the plugin's tasks if there is none."""
    names = task_names(instance)
    attribute = names.get(name)
    if attribute is None:
        known = ", ".join(sorted(names)) or "none"
        raise UnknownTaskError(f"plugin {plugin!r} has no @task named {name!r} (its tasks: {known})")
    method: Callable[..., Any] = getattr(instance, attribute)
    return method
