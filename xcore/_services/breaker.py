"""A circuit breaker: after a failure, stop calling a server for a while, then probe it with one call.

A timeout bounds one call, not an outage: a server that stops answering (frozen, partitioned) makes
*every* call wait out its timeout, so a cache that "fails open" still drags each request down by the
timeout. The breaker turns that into one wait per interval:

* **closed**: calls go through (the normal state; checking it costs one attribute test).
* **open**: right after a failure, calls are refused without trying, for ``retry_interval`` seconds.
* **half-open**: once the interval is over, the next call is let through as a probe while the others
  are still refused; its success closes the circuit, its failure opens it for another interval. A
  probe that never reports (its caller was cancelled) is replaced by another after one more interval.

Meant for one event loop (or one thread): state changes are plain assignments, no lock. A service
owns one breaker per server it calls and reports :meth:`describe` in its health.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

BreakerState = Literal["closed", "open", "half-open"]


class CircuitBreaker:
    """Skip a failing server for ``retry_interval`` seconds, then let one probe through."""

    __slots__ = ("_clock", "_open_until", "_probing", "failures", "retry_interval")

    def __init__(self, retry_interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        if retry_interval <= 0:
            raise ValueError(f"retry_interval must be positive, got {retry_interval!r}")
        self.retry_interval = retry_interval
        self._clock = clock
        self._open_until = 0.0  # 0: closed
        self._probing = False
        self.failures = 0
        """Failures since the circuit was last closed."""

    @property
    def state(self) -> BreakerState:
        if not self._open_until:
            return "closed"
        return "half-open" if self._probing else "open"

    def allow(self) -> bool:
        """Whether a call may go to the server now; when the open interval is over, the caller that
        gets ``True`` is the probe, and must report :meth:`success` or :meth:`failure`."""
        if not self._open_until:
            return True
        now = self._clock()
        if now < self._open_until:
            return False
        self._open_until = now + self.retry_interval  # the others keep skipping while the probe runs
        self._probing = True
        return True

    def failure(self) -> bool:
        """The server failed a call: open (again) for ``retry_interval``. ``True`` if the circuit was
        closed until now, i.e. an outage starts (the moment to log it, once)."""
        opened = not self._open_until
        self._open_until = self._clock() + self.retry_interval
        self._probing = False
        self.failures += 1
        return opened

    def success(self) -> bool:
        """The server answered: close the circuit. ``True`` if it was open, i.e. the outage ended."""
        if not self._open_until:
            return False
        self._open_until = 0.0
        self._probing = False
        self.failures = 0
        return True

    def describe(self) -> dict[str, object]:
        """For health reports: the state, and while not closed, the failures and the next probe."""
        if not self._open_until:
            return {"state": "closed"}
        return {
            "state": self.state,
            "failures": self.failures,
            "next_probe_in": round(max(0.0, self._open_until - self._clock()), 3),
        }

    def __repr__(self) -> str:
        return f"<CircuitBreaker {self.state} retry_interval={self.retry_interval:g}>"
