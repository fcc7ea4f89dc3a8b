"""Whether the suite runs under CI, and the one way a test meets something missing from the machine.

Under ``CI=true`` (``.ci/run`` installs every server, binary and extra) a missing one fails the run;
on a developer's machine the test is skipped with what to install.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unavailable(reason: str) -> NoReturn:
    """Fail under CI, skip elsewhere, naming what is missing."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: .ci/run provides it, so its absence fails the run)")
    pytest.skip(reason)
