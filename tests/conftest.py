"""Session-wide real servers for the tests (see ``xcore.testing.servers``).

A server that cannot be started skips its tests on a developer machine and fails them under
``CI=true``: CI must never go green by skipping the paths it is meant to prove.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from xcore.testing.servers import PostgresServer, RedisServer, ServerUnavailable

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a test server that cannot start fails the run)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A private redis-server; ``.url``, ``.stop()`` and ``.start()`` to simulate an outage."""
    try:
        server = RedisServer().start()
    except ServerUnavailable as exc:
        unavailable(str(exc))
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A private PostgreSQL cluster; ``.url`` is a ``postgresql://`` URL with a password."""
    try:
        server = PostgresServer().start()
    except ServerUnavailable as exc:
        unavailable(str(exc))
    yield server
    server.cleanup()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """The Redis URL, with the database flushed after the test so tests do not see each other."""
    if redis_server.process is None:
        redis_server.start()
    yield redis_server.url
    if redis_server.process is None:
        redis_server.start()
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    client.close()


if TYPE_CHECKING:
    from xcore.testing.conformance.servers import S3Server, SmtpServer


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpServer]:
    """A plain-SMTP aiosmtpd server recording what it receives (``.messages``); AUTH with ``.user``/``.password``."""
    from xcore.testing.conformance.servers import SmtpServer

    try:
        server = SmtpServer(user="mailer@example.test", password="smtp-secret-pw").start()
    except ServerUnavailable as exc:
        unavailable(str(exc))
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 API on 127.0.0.1 (``.endpoint_url``, ``.create_bucket(name)``, ``.settings(bucket)``)."""
    from xcore.testing.conformance.servers import S3Server

    try:
        server = S3Server().start()
    except ServerUnavailable as exc:
        unavailable(str(exc))
    yield server
    server.cleanup()
