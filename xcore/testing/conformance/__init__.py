"""Conformance suites a service backend runs in its own CI to prove it behaves like XCore's own.

One suite per service kind. Subclass it in a ``test_*.py`` module, name the class ``Test*``, and
override the ``service_config`` fixture with the ``integration.yaml`` section of your backend::

    import pytest
    from xcore.testing.conformance import StorageConformance

    class TestMemoryStorage(StorageConformance):
        @pytest.fixture
        def service_config(self):
            return {"type": "memory"}

The suites boot a real :class:`~xcore.Xcore` host whose only service is the section under test
(installed entry points, the type's settings model, its factory, ``start()``, ``close()`` at
shutdown), so passing them means the backend works when named in ``integration.yaml``. They need
``pytest`` and ``pytest-asyncio``.
"""

from xcore.testing.conformance.base import ConformanceSuite
from xcore.testing.conformance.boot import running_service, settings_error
from xcore.testing.conformance.cache_suite import CacheConformance
from xcore.testing.conformance.database_suite import AsyncDatabaseConformance, SyncDatabaseConformance
from xcore.testing.conformance.email_suite import EmailConformance
from xcore.testing.conformance.storage_suite import StorageConformance
from xcore.testing.servers import Delivered, S3Server, SmtpServer

__all__ = [
    "AsyncDatabaseConformance",
    "CacheConformance",
    "ConformanceSuite",
    "Delivered",
    "EmailConformance",
    "S3Server",
    "SmtpServer",
    "StorageConformance",
    "SyncDatabaseConformance",
    "running_service",
    "settings_error",
]
