"""What the job runner and the plugin views need of the scheduler service, as a protocol.

:class:`~xcore._builtin_services.scheduler.service.SchedulerService` implements it. The runner
(:mod:`.runner`) and the per-plugin view (:mod:`.view`) are typed against this protocol rather than
the service class, so the service imports them and nothing imports the service back: no import circle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from datetime import tzinfo
from typing import Any, Protocol

from apscheduler.schedulers.base import BaseScheduler

from xcore._builtin_services.scheduler.outcomes import JobFailure, JobOutcome
from xcore._builtin_services.scheduler.targets import JobTarget
from xcore._services import ServiceSetup


class SchedulerCore(Protocol):
    """The scheduler service as its runner and plugin views see it."""

    @property
    def scheduler(self) -> BaseScheduler: ...

    @property
    def setup(self) -> ServiceSetup:
        """What the host handed the service (``run_in="tasks"`` finds the tasks service through it)."""
        ...

    @property
    def timezone(self) -> tzinfo: ...

    @property
    def lock(self) -> AbstractContextManager[Any]: ...

    @property
    def registered(self) -> set[str]:
        """Stored ids of the jobs this process added since their plugin loaded."""
        ...

    @property
    def backend(self) -> str: ...

    @property
    def persistent(self) -> str | None: ...

    @property
    def running(self) -> bool: ...

    def outcomes(self, stored_ids: Iterable[str]) -> dict[str, JobOutcome]: ...

    async def record_outcome(self, stored_id: str, outcome: JobOutcome) -> None: ...

    def report_skip(self, stored_id: str, reason: str) -> None: ...

    def report_resolved(self, stored_id: str) -> None: ...

    def resolve(self, target: JobTarget) -> Callable[..., Any]: ...

    async def job_failed(self, failure: JobFailure) -> None: ...
