"""Names a backend package re-exports without importing them until someone asks.

Every ``xcore`` command and every host boot imports all installed backends to collect their
``xcore_register_service`` declarations, including backends the configuration disables. So a
backend package imports only its settings models at import time; its implementation (and the
client library under it: SQLAlchemy, redis-py, APScheduler...) is imported by the factory, or
when code imports a name such as ``from xcore._builtin_services.cache import RedisCache``.

A package lists those names in a ``TYPE_CHECKING`` block (so type checkers see real imports) and
hands the same names to :func:`lazy_exports` for run time::

    if TYPE_CHECKING:
        from .service import RedisDatabase
    else:
        __getattr__ = lazy_exports(__name__, {"RedisDatabase": ".service"})
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports ``name`` from the module ``names[name]``
    (relative to ``package``) on first access, then keeps it as an ordinary module attribute."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
