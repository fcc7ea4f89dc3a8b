"""``CircuitBreaker``: closed, open for an interval after a failure, then one probe at a time.

The clock is a plain variable the test moves, so each state change is checked exactly; the breaker
against a real frozen Redis is in ``test_cache_redis.py``.
"""

from __future__ import annotations

import pytest

from xcore._services.breaker import CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_closed_lets_every_call_through_and_a_success_changes_nothing() -> None:
    breaker = CircuitBreaker(0.5, Clock())
    assert all(breaker.allow() for _ in range(10))
    assert breaker.success() is False
    assert breaker.state == "closed" and breaker.describe() == {"state": "closed"}


def test_a_failure_opens_then_one_probe_after_the_interval() -> None:
    clock = Clock()
    breaker = CircuitBreaker(0.5, clock)
    assert breaker.failure() is True  # an outage starts: the caller logs it once
    assert breaker.failure() is False  # more failures of the same outage: nothing new to log
    assert breaker.state == "open" and not breaker.allow()
    assert breaker.describe() == {"state": "open", "failures": 2, "next_probe_in": 0.5}
    clock.now += 0.49
    assert not breaker.allow()
    clock.now += 0.01
    assert breaker.allow()  # this caller probes...
    assert breaker.state == "half-open"
    assert not any(breaker.allow() for _ in range(10))  # ...the others keep skipping meanwhile
    assert breaker.success() is True  # the outage is over: the caller logs it once
    assert breaker.state == "closed" and breaker.allow() and breaker.failures == 0


def test_a_failed_probe_opens_for_another_interval() -> None:
    clock = Clock()
    breaker = CircuitBreaker(1.0, clock)
    breaker.failure()
    clock.now += 1.0
    assert breaker.allow()
    assert breaker.failure() is False
    assert breaker.state == "open" and not breaker.allow()
    clock.now += 0.999
    assert not breaker.allow()
    clock.now += 0.001
    assert breaker.allow()


def test_a_probe_that_never_reports_is_replaced_after_another_interval() -> None:
    clock = Clock()
    breaker = CircuitBreaker(0.5, clock)
    breaker.failure()
    clock.now += 0.5
    assert breaker.allow()  # its caller is cancelled and never reports
    clock.now += 0.49
    assert not breaker.allow()
    clock.now += 0.01
    assert breaker.allow()  # a new probe: the breaker cannot stay half-open forever


def test_the_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="retry_interval must be positive, got 0"):
        CircuitBreaker(0)
