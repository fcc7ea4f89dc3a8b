"""Fixtures of the compatibility suite: the original XCore's examples booted on a real host.

Every test runs in its own temporary directory, so the embedded defaults (a SQLite file, local
storage under ``./.xcore``) are the test's own. ``EXAMPLES`` holds the examples as their pages
write them (see ``examples/README.md``).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(__file__).parent / "examples"
API_KEY = "compat-test-key"
KEY = {"X-API-Key": API_KEY}


@pytest.fixture(autouse=True)
def _in_tmp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def example(name: str) -> Any:
    """The ``Plugin`` class of ``examples/<name>.py``."""
    return importlib.import_module(f"tests.compat.examples.{name}").Plugin


def directory(*parts: str) -> str:
    """An ``examples/...`` folder of plugins in the original's layout, for ``plugins.directory``."""
    return str(EXAMPLES.joinpath(*parts))
