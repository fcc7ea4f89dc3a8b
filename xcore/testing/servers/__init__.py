"""Real servers on 127.0.0.1 for tests: PostgreSQL, Redis, SMTP (aiosmtpd) and S3 (moto).

Each launcher starts a private server on a free port in a temporary directory, waits until it
answers, and removes everything on ``stop()``. Tests use real servers, never mocks, so what passes
here passes against production servers. An environment variable can point a test run at an
existing server instead (``XCORE_TEST_POSTGRES_URL``, ``XCORE_TEST_REDIS_URL``).

``stop()`` followed by ``start()`` restarts a server on the same port with the same data, which is
how the tests prove that services recover when their server returns.
"""

from xcore.testing.servers.mail import Delivered, SmtpServer, make_certificate
from xcore.testing.servers.ports import ServerUnavailable, free_port, wait_for_port
from xcore.testing.servers.postgres import PostgresServer
from xcore.testing.servers.redis import RedisServer
from xcore.testing.servers.s3 import S3Server

__all__ = [
    "Delivered",
    "PostgresServer",
    "RedisServer",
    "S3Server",
    "ServerUnavailable",
    "SmtpServer",
    "free_port",
    "make_certificate",
    "wait_for_port",
]
