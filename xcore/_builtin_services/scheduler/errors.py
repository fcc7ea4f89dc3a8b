"""Errors of the scheduler service, each naming the plugin and the job id the plugin chose.

They subclass APScheduler's own exceptions where one exists, so plugin code written for
APScheduler (``except JobLookupError``, ``except ConflictingIdError``) keeps working.
"""

from __future__ import annotations

from apscheduler.jobstores.base import ConflictingIdError, JobLookupError

from xcore._errors import XcoreError


def _owner(plugin: str) -> str:
    return f"plugin {plugin!r}" if plugin else "the application"


class SchedulerError(XcoreError):
    """Base of the scheduler's own errors."""


class InvalidJobError(SchedulerError, ValueError):
    """``add_job`` (or ``reschedule_job``) was given something that cannot be scheduled."""


class StoreUnavailableError(SchedulerError):
    """The job store (Redis or the database) did not answer; nothing was changed."""


class DuplicateJobError(SchedulerError, ConflictingIdError):  # type: ignore[misc]
    """A job with this id exists already and ``replace_existing`` was not given."""

    def __init__(self, plugin: str, job_id: str) -> None:
        self.plugin = plugin
        self.job_id = job_id
        Exception.__init__(
            self,
            f"{_owner(plugin)} already has a job with id {job_id!r}; pass replace_existing=True to replace it, "
            "or choose another id",
        )

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class JobNotFoundError(SchedulerError, JobLookupError):  # type: ignore[misc]
    """No job with this id exists for this plugin."""

    def __init__(self, plugin: str, job_id: str) -> None:
        self.plugin = plugin
        self.job_id = job_id
        Exception.__init__(self, f"{_owner(plugin)} has no job with id {job_id!r}")

    def __str__(self) -> str:
        return str(self.args[0])
