"""Session-wide real servers for the tests (see ``xcore.testing.servers``).

A server that cannot be started skips its tests on a developer machine and fails them under
``CI=true``: CI must never go green by skipping the paths it is meant to prove.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import pytest

from tests.ci import unavailable
from xcore.testing.servers import PostgresServer, RedisServer, ServerUnavailable


class ExistingServer:
    """A server the suite did not start (``XCORE_TEST_REDIS_URL`` / ``XCORE_TEST_POSTGRES_URL``).

    Tests run against it as they would against their own, except outage tests: the suite never
    stops a server it does not own, so those skip. The suite flushes the Redis database it is
    given after each test: point ``XCORE_TEST_REDIS_URL`` at a throwaway database number.
    """

    def __init__(self, url: str) -> None:
        from urllib.parse import urlsplit

        self.url = url
        self.process: object = "external"
        self.password = urlsplit(url).password

    running = True

    def stop(self, mode: str = "immediate") -> None:
        pytest.skip("outage tests need a server the suite starts itself (unset XCORE_TEST_*_URL)")

    def start(self) -> ExistingServer:
        return self

    def cleanup(self) -> None:
        return None


class Server(Protocol):
    def cleanup(self) -> None: ...


S = TypeVar("S", bound=Server)


def serve(start: Callable[[], S], existing_url_variable: str | None = None) -> Iterator[S]:
    """The body of a server fixture: ``yield from serve(lambda: SomeServer().start())``.

    Yields the started server and cleans it up after; a server that cannot start is
    :func:`unavailable`. With ``existing_url_variable`` set in the environment, yields an
    :class:`ExistingServer` on that URL instead of starting one.
    """
    url = os.environ.get(existing_url_variable) if existing_url_variable else None
    if url:
        yield ExistingServer(url)  # type: ignore[misc]
        return
    try:
        server = start()
    except ServerUnavailable as exc:
        unavailable(str(exc))
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A private redis-server; ``.url``, ``.stop()`` and ``.start()`` to simulate an outage."""
    yield from serve(lambda: RedisServer().start(), "XCORE_TEST_REDIS_URL")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A private PostgreSQL cluster; ``.url`` is a ``postgresql://`` URL with a password."""
    yield from serve(lambda: PostgresServer().start(), "XCORE_TEST_POSTGRES_URL")


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
    from xcore.testing.servers import S3Server, SmtpServer


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpServer]:
    """A plain-SMTP aiosmtpd server recording what it receives (``.messages``); AUTH with ``.user``/``.password``."""
    from xcore.testing.servers import SmtpServer

    yield from serve(lambda: SmtpServer(user="mailer@example.test", password="smtp-secret-pw").start())


@pytest.fixture(scope="session")
def starttls_server() -> Iterator[SmtpServer]:
    """An SMTP server requiring STARTTLS (self-signed ``.cert_file``) and AUTH (``.user``/``.password``)."""
    from xcore.testing.servers import SmtpServer

    yield from serve(lambda: SmtpServer(tls="starttls", user="tls-user@example.test", password="tls-secret-pw").start())


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 API on 127.0.0.1 (``.endpoint_url``, ``.create_bucket(name)``, ``.settings(bucket)``)."""
    from xcore.testing.servers import S3Server

    yield from serve(lambda: S3Server().start())


@pytest.fixture
def spans() -> Iterator[Any]:
    """The in-memory exporter of the process's one OpenTelemetry provider, emptied before and after,
    with XCore's tracing turned off again afterwards (the otel extra: missing is a failure)."""
    from xcore._observability import tracing

    from .test_observability_tracing import EXPORTER, provider

    provider()
    EXPORTER.clear()
    yield EXPORTER
    tracing.disable()
    EXPORTER.clear()
