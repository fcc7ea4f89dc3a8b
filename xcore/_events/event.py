"""The object a handler receives, and the record ``emit`` returns for each handler it ran."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from xcore._events.bus import Subscription


class Event:
    """One emitted event, shared by every handler of that emit.

    ``data`` is passed as given, not copied: a handler that mutates it changes what later handlers
    see. ``source`` is the emitting plugin's name (``"xcore"`` for kernel events, ``None`` when
    emitted on the bus directly). ``remote`` is true when the event came from another process
    through the redis backend. A handler calls :meth:`stop` to skip every handler after it.
    """

    __slots__ = ("_cancelled", "_stopped", "data", "name", "remote", "source")

    def __init__(self, name: str, data: Any = None, source: str | None = None, remote: bool = False) -> None:
        self.name = name
        self.data = data
        self.source = source
        self.remote = remote
        self._stopped = False
        self._cancelled = False

    def stop(self) -> None:
        """Stop propagation: handlers of lower priority (or subscribed later) do not run."""
        self._stopped = True

    @property
    def stopped(self) -> bool:
        return self._stopped

    def cancel(self) -> None:
        """Stop propagation and mark the event ``cancelled`` (the original XCore's spelling).

        Handlers after this one do not run, as with :meth:`stop`; XCore handlers usually ``stop()``
        and return a value the emitter reads from ``emit``'s results.
        """
        self._stopped = True
        self._cancelled = True

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    @property
    def propagate(self) -> bool:
        """``not stopped``; setting it to ``False`` is :meth:`stop` (the original XCore's spelling)."""
        return not self._stopped

    @propagate.setter
    def propagate(self, value: bool) -> None:
        if value and self._stopped:
            raise ValueError("a stopped event cannot propagate again")
        if not value:
            self._stopped = True

    def __repr__(self) -> str:
        origin = " remote" if self.remote else ""
        return f"<Event {self.name!r} from {self.source!r}{origin} data={self.data!r}>"


class HandlerResult(tuple[Any, ...]):
    """What one handler did with an event: its return value, or the exception it raised.

    A handler that ran past the bus's timeout has a ``TimeoutError`` as ``error`` and
    ``timed_out`` set; one that raised ``CancelledError`` by itself (nobody cancelled the emitter) has it
    as ``error``. The emitter can tell success with ``ok`` and who answered with ``plugin``.
    (A tuple underneath, so building one per handler call stays cheap.)
    """

    __slots__ = ()

    def __new__(
        cls, subscription: Subscription, value: Any = None, error: BaseException | None = None, timed_out: bool = False
    ) -> HandlerResult:
        return tuple.__new__(cls, (subscription, value, error, timed_out))

    @property
    def subscription(self) -> Subscription:
        return self[0]  # type: ignore[no-any-return]

    @property
    def value(self) -> Any:
        return self[1]

    @property
    def error(self) -> BaseException | None:
        return self[2]  # type: ignore[no-any-return]

    @property
    def timed_out(self) -> bool:
        return self[3]  # type: ignore[no-any-return]

    @property
    def ok(self) -> bool:
        return self[2] is None

    @property
    def plugin(self) -> str | None:
        """The plugin that subscribed the handler (``None`` for a host-level subscription)."""
        return self.subscription.owner

    @property
    def handler(self) -> Any:
        return self.subscription.handler

    def __repr__(self) -> str:
        outcome = f"value={self.value!r}" if self.error is None else f"error={self.error!r}"
        return f"<HandlerResult {self.subscription.label} of {self.plugin!r} {outcome}>"
