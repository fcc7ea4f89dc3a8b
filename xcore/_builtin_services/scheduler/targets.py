"""What a job calls, stored as a reference and resolved against the live plugin when it runs.

APScheduler 3 pickles a job's callable. For ``func=self._cleanup_task`` that means pickling the plugin
instance: it fails for a plugin holding a connection or a lock, and when it works the job runs on a
stale copy instead of the live plugin. A :class:`JobTarget` stores ``(plugin name, method name)``
instead and the scheduler looks the method up on the plugin loaded *now* (``setup.plugins(name)``), so
after a restart a stored job runs against the newly loaded plugin. A module-level function is stored
as ``"module:function"``. Only the memory backend can hold a lambda or a nested function.

The job's own arguments are pickled on their own (``args_blob``): a job whose arguments cannot be
unpickled any more (its plugin's package was uninstalled) still loads, is listed and is skipped.
"""

from __future__ import annotations

import inspect
import pickle
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache, partial
from types import ModuleType
from typing import Any, Literal

from apscheduler.util import get_callable_name, ref_to_obj

from xcore._builtin_services.scheduler.errors import InvalidJobError
from xcore._errors import XcoreError

TargetKind = Literal["method", "function", "callable"]

RUN_TARGET_REF = "xcore._builtin_services.scheduler.targets:run_target"
"""The callable APScheduler stores for every XCore job. Renaming it breaks jobs already stored."""


def run_target(target: JobTarget) -> None:
    """Placeholder APScheduler stores as the job function; XCore's runner resolves ``target`` itself."""
    raise RuntimeError(f"{target.describe()} runs only through the XCore scheduler's job runner")


# APScheduler inspects the job function's signature at every add_job; computed once, it is free
run_target.__signature__ = inspect.signature(run_target)  # type: ignore[attr-defined]


class Unresolved(XcoreError):
    """The target cannot be called in this process now (plugin not loaded, method gone...)."""


@dataclass(eq=False)
class JobTarget:
    """The callable of one job: ``owner`` is the plugin name (``""`` for the application's own jobs).

    ``from_config`` marks the jobs of ``services.scheduler.jobs``, which the configuration owns.
    """

    owner: str
    kind: TargetKind
    ref: str
    _args: tuple[Any, ...] = ()
    _kwargs: Mapping[str, Any] = field(default_factory=dict)
    obj: Callable[..., Any] | None = None
    _blob: bytes | None = None
    from_config: bool = False
    run_in: str = ""
    """The task name when the job hands each due run to the tasks service (``add_job(run_in="tasks")``)."""

    def describe(self) -> str:
        if self.kind == "method":
            return f"{self.owner}.{self.ref}"
        return self.ref

    def arguments(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The job's ``(args, kwargs)``; raises :class:`Unresolved` if stored ones cannot be loaded."""
        if self._blob is not None:
            try:
                self._args, self._kwargs = pickle.loads(self._blob)
            except Exception as exc:
                raise Unresolved(f"its stored arguments cannot be loaded: {type(exc).__name__}: {exc}") from exc
            self._blob = None
        return tuple(self._args), dict(self._kwargs)

    def same_as(self, other: JobTarget) -> bool:
        """Same callable and arguments (how a re-registration after a restart is recognised)."""
        if (self.owner, self.kind, self.ref, self.run_in) != (other.owner, other.kind, other.ref, other.run_in):
            return False
        if self.kind == "callable" and self.obj is not other.obj:
            return False
        try:
            return self.arguments() == other.arguments()
        except Unresolved:
            return False

    def __getstate__(self) -> dict[str, Any]:
        if self.kind == "callable":
            raise pickle.PicklingError(f"{self.ref} has no importable name and cannot be stored")
        blob = self._blob if self._blob is not None else pickle.dumps((tuple(self._args), dict(self._kwargs)))
        return {
            "owner": self.owner,
            "kind": self.kind,
            "ref": self.ref,
            "blob": blob,
            "config": self.from_config,
            "run_in": self.run_in,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.owner, self.kind, self.ref = state["owner"], state["kind"], state["ref"]
        self._args, self._kwargs, self.obj, self._blob = (), {}, None, state["blob"]
        self.from_config = bool(state.get("config", False))
        self.run_in = str(state.get("run_in", ""))


@lru_cache(maxsize=4096)
def _cached_signature(function: Callable[..., Any], bound: bool) -> inspect.Signature | None:
    try:
        signature = inspect.signature(function, follow_wrapped=False)
    except (TypeError, ValueError):
        return None  # some builtins have none: the call itself will tell
    if bound:
        signature = signature.replace(parameters=list(signature.parameters.values())[1:])
    return signature


def _signature(func: Callable[..., Any]) -> inspect.Signature | None:
    """``func``'s signature, cached per function: a plugin adding many jobs pays for it once."""
    try:
        if inspect.ismethod(func):
            return _cached_signature(func.__func__, True)
        return _cached_signature(func, False)
    except TypeError:  # an unhashable callable object
        try:
            return inspect.signature(func, follow_wrapped=False)
        except (TypeError, ValueError):
            return None


def _method_name(func: Any, instance: object) -> str | None:
    """The attribute name under which ``func`` (a bound method) is found on ``instance``."""
    name: str = func.__func__.__name__
    if name.startswith("__") and not name.endswith("__"):  # name-mangled private method
        owner_class = func.__func__.__qualname__.rsplit(".", 2)[-2].lstrip("_")
        name = f"_{owner_class}{name}"
    found = getattr(instance, name, None)
    return name if inspect.ismethod(found) and found.__func__ is func.__func__ else None


def _importable_ref(func: Any) -> str | None:
    """``"module:qualname"`` if importing that gives back ``func``; else ``None``."""
    if isinstance(func, partial):
        return None
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None)
    if not module or not qualname or "<" in qualname:
        return None
    ref = f"{module}:{qualname}"
    try:
        found = ref_to_obj(ref)
    except Exception:
        return None
    return ref if found is func or found == func else None


def make_target(
    func: Any,
    owner: str,
    instance: object | None,
    args: Any,
    kwargs: Any,
    persistent: str | None,
) -> tuple[JobTarget, Callable[..., Any]]:
    """The stored target for ``add_job(func=...)`` and the callable it resolves to now.

    ``persistent`` names the backend when jobs are pickled (``"redis"``, ``"database"``), else ``None``.
    """
    if args is None:
        args = ()
    if kwargs is None:
        kwargs = {}
    if isinstance(args, str | bytes) or not isinstance(args, list | tuple):
        raise InvalidJobError(f"args must be a list or tuple, not {type(args).__name__}")
    if not isinstance(kwargs, Mapping):
        raise InvalidJobError(f"kwargs must be a dict, not {type(kwargs).__name__}")
    target, resolved = _classify(func, owner, instance)
    target._args, target._kwargs = tuple(args), dict(kwargs)
    signature = _signature(resolved)
    if signature is not None:
        try:
            signature.bind(*target._args, **target._kwargs)
        except TypeError as exc:
            raise InvalidJobError(f"the arguments do not fit {target.describe()}: {exc}") from None
    if persistent is not None:
        if target.kind == "callable":
            raise InvalidJobError(
                f"{target.ref} cannot be stored by the {persistent} scheduler: a lambda, nested function or "
                "partial has no importable name, and a stored job must outlive this process. Schedule a method "
                "of your plugin (func=self.method) or a module-level function, and pass data through args/kwargs"
            )
        try:
            target._blob = pickle.dumps((target._args, target._kwargs))
        except Exception as exc:
            raise InvalidJobError(
                f"the arguments of {target.describe()} cannot be stored by the {persistent} scheduler "
                f"(they must be picklable): {type(exc).__name__}: {exc}"
            ) from None
    return target, resolved


def _classify(func: Any, owner: str, instance: object | None) -> tuple[JobTarget, Callable[..., Any]]:
    if isinstance(func, str):
        try:
            resolved = ref_to_obj(func)
        except (LookupError, ValueError) as exc:
            raise InvalidJobError(f"func={func!r}: {exc} (write 'package.module:function')") from None
        if not callable(resolved):
            raise InvalidJobError(f"func={func!r} is not callable")
        return JobTarget(owner, "function", func), resolved
    if not callable(func):
        raise InvalidJobError(f"func must be a callable or a 'module:function' string, not {type(func).__name__}")
    if (
        inspect.ismethod(func)
        and instance is not None
        and not isinstance(instance, ModuleType)
        and func.__self__ is instance
    ):
        name = _method_name(func, instance)
        if name is not None:
            return JobTarget(owner, "method", name), func
    ref = _importable_ref(func)
    if ref is not None:
        return JobTarget(owner, "function", ref), func
    return JobTarget(owner, "callable", get_callable_name(func), obj=func), func


def resolve(target: JobTarget, plugin_instance: Callable[[str], object | None]) -> Callable[..., Any]:
    """The callable to run now; raises :class:`Unresolved` with the reason when there is none.

    ``plugin_instance(name)`` returns the live instance of a loaded plugin, else ``None``. A job owned by
    a plugin runs only while that plugin is loaded, whatever kind of callable it stores.
    """
    instance = plugin_instance(target.owner) if target.owner else None
    if target.owner and instance is None:
        raise Unresolved(f"plugin {target.owner!r} is not loaded (not installed, disabled, or failed to load)")
    if target.kind == "method":
        method = getattr(instance, target.ref, None)
        if method is None or not callable(method):
            raise Unresolved(f"plugin {target.owner!r} has no method {target.ref!r}")
        return method  # type: ignore[no-any-return]
    if target.kind == "function":
        try:
            found = ref_to_obj(target.ref)
        except Exception as exc:
            raise Unresolved(f"{target.ref} cannot be imported: {exc}") from exc
        return found  # type: ignore[no-any-return]
    if target.obj is None:
        raise Unresolved(f"{target.ref} was held in memory by a process that is gone")
    return target.obj
