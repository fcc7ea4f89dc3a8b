"""``TrustedBase``: the class-based face of the per-plugin hooks.

A subclass writes ``on_load``, ``get_router``, ``handle`` and ``on_unload`` as plain methods; the
``xcore_*`` hook implementations below forward the host's calls to them for this one instance.
Actions can be routed to methods with ``@action`` instead of writing ``handle`` by hand.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar, overload

from xcore._hookspecs import hookimpl
from xcore.sdk._responses import ActionNotFound
from xcore.sdk._scheduling import schedule_marked
from xcore.sdk._typed_services import checked_service

if TYPE_CHECKING:
    from fastapi import APIRouter

    from xcore._builtin_services.cache import Cache
    from xcore._builtin_services.scheduler import PluginScheduler
    from xcore._events import EventsView
    from xcore.sdk._context import PluginContext

ActionMethod = Callable[..., Awaitable[dict[str, Any]]]
F = TypeVar("F", bound=ActionMethod)
S = TypeVar("S")

_ACTION_ATTR = "__xcore_action__"


def action(name: str | None = None) -> Callable[[F], F]:
    """Route the action ``name`` (default: the method's name) to the decorated coroutine method.

    The method receives the payload dict and returns a response built with ``ok()``/``error()``::

        @action("get_user")
        async def get_user(self, payload: dict) -> dict: ...
    """

    def mark(func: F) -> F:
        setattr(func, _ACTION_ATTR, name or func.__name__)
        return func

    return mark


class TrustedBase:
    """Base class of class-based plugins. The host makes one instance per boot.

    Class attributes declare ordering: ``requires`` lists plugins that must load first (a missing
    one fails this plugin), ``load_after`` lists plugins to load first only when they are present.
    ``self.ctx`` is set before ``on_load`` runs and stays for the plugin's life.
    """

    requires: ClassVar[Sequence[str]] = ()
    load_after: ClassVar[Sequence[str]] = ()
    _actions: ClassVar[dict[str, str]] = {}

    ctx: PluginContext

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        actions: dict[str, str] = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                action_name = getattr(value, _ACTION_ATTR, None)
                if action_name is not None:
                    actions[action_name] = attr
        cls._actions = actions

    # ------------------------------------------------------------------ the plugin author's API

    @property
    def name(self) -> str:
        """The plugin's name (its entry point's name): ``self.ctx.name``; a plugin may set its own."""
        own = self.__dict__.get("_own_name")
        return own if own is not None else self.ctx.name

    @name.setter
    def name(self, value: str) -> None:
        self.__dict__["_own_name"] = value

    @overload
    def get_service(self, name: Literal["cache"]) -> Cache: ...
    @overload
    def get_service(self, name: Literal["scheduler"]) -> PluginScheduler: ...
    @overload
    def get_service(self, name: Literal["events"]) -> EventsView: ...
    @overload
    def get_service(self, name: str, kind: type[S] | tuple[type[S], ...]) -> S: ...
    @overload
    def get_service(self, name: str) -> Any: ...

    def get_service(self, name: str, kind: type[Any] | tuple[type[Any], ...] | None = None) -> Any:
        """The service called ``name``; an unknown name raises ``KeyError`` listing the known ones.

        Type checkers know the built-in names ``cache``, ``scheduler`` and ``events``. For any other
        name, pass the type you expect (``self.get_service("db", SqlDatabase)``): the service is
        checked with ``isinstance`` (a ``TypeError`` names the service and both types) and typed as it.
        """
        service = self.ctx.services[name]
        return service if kind is None else checked_service(name, service, kind)

    async def on_load(self) -> None:
        """Called once when the plugin loads; fetch services and prepare state here."""

    async def on_start(self) -> None:
        """Called once after every plugin has loaded (the host is about to serve); nothing by default."""

    async def on_unload(self) -> None:
        """Called once at shutdown, in reverse load order."""

    def get_router(self) -> APIRouter | None:
        """Return the plugin's routes, mounted under ``/plugins/<name>``; ``None`` for none."""
        return None

    async def handle(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Run an action. The default routes to ``@action`` methods and raises ``ActionNotFound``."""
        method = self._actions.get(action)
        if method is None:
            raise ActionNotFound(self.ctx.name, action, list(self._actions))
        result: dict[str, Any] = await getattr(self, method)(payload)
        return result

    async def health(self) -> bool | dict[str, Any] | None:
        """The plugin's own health for ``/health/ready``; healthy unless overridden."""
        return None

    # ------------------------------------------------------------------ hook implementations

    @hookimpl
    async def xcore_on_load(self, ctx: PluginContext) -> None:
        self.ctx = ctx
        await self.on_load()
        schedule_marked(self, ctx)

    @hookimpl
    async def xcore_host_started(self) -> None:
        await self.on_start()

    @hookimpl
    def xcore_get_router(self) -> APIRouter | None:
        return self.get_router()

    @hookimpl
    def xcore_handle(self, action: str, payload: dict[str, Any]) -> Awaitable[dict[str, Any]]:
        return self.handle(action, payload)

    @hookimpl
    async def xcore_health(self) -> bool | dict[str, Any] | None:
        return await self.health()

    @hookimpl
    async def xcore_on_unload(self) -> None:
        await self.on_unload()
