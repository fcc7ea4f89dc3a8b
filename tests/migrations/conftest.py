"""Fixtures of the migration tests: a site folder to install plugins in, and each real database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.spec_support import fresh_postgres_database

from .support import Database


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A throwaway site-packages folder on ``sys.path`` (and on the CLI's ``PYTHONPATH``)."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.chdir(tmp_path)
    return root


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A fresh SQLite file, or a fresh database on the suite's PostgreSQL server."""
    if request.param == "sqlite":
        yield Database("sqlite", f"sqlite:///{tmp_path / 'app.db'}")
        return
    server = request.getfixturevalue("postgres_server")
    for url in fresh_postgres_database(server.url):
        yield Database("postgresql", url)


@pytest.fixture
def postgres(request: pytest.FixtureRequest) -> Iterator[Database]:
    """A fresh database on the suite's PostgreSQL server."""
    server = request.getfixturevalue("postgres_server")
    for url in fresh_postgres_database(server.url):
        yield Database("postgresql", url)
