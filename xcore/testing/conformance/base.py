"""What every suite shares: the fixtures a backend author overrides, and the service fixture.

A suite is a class of tests. The author subclasses it in a module named ``test_*.py`` with a class
named ``Test*`` and overrides ``service_config`` (the ``integration.yaml`` section of the backend
under test, selector included). ``service_plugins`` may hand backends that are not pip-installed
(a module or object carrying ``xcore_register_service``). The tests get the service from
``service``, built by a real host booted with that section as its only service (see ``boot.py``).
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import pytest
import pytest_asyncio

from xcore._services.hooks import LIFECYCLE_PROTOCOLS, lifecycle_methods
from xcore._services.types import ServiceKind
from xcore.testing.conformance.boot import running_service


class ConformanceSuite:
    """Base of the suites; not collected by pytest itself (its name does not start with ``Test``)."""

    kind: ClassVar[ServiceKind]
    section_name: ClassVar[str]
    pytestmark = pytest.mark.asyncio

    @pytest.fixture
    def service_config(self) -> dict[str, Any]:
        """Override: the config section of the backend under test, e.g. ``{"type": "s3", "bucket": ...}``."""
        pytest.fail(f"{type(self).__name__} must override the 'service_config' fixture with the backend's settings")

    @pytest.fixture
    def service_plugins(self) -> dict[str, object]:
        """Override to add backends that are not installed: ``{"my_backend": my_backend_module}``."""
        return {}

    @pytest_asyncio.fixture
    async def service(self, service_config: dict[str, Any], service_plugins: dict[str, object]) -> AsyncIterator[Any]:
        async with running_service(self.kind, service_config, name=self.section_name,
                                   plugins=service_plugins) as built:  # fmt: skip
            yield built

    @pytest.fixture
    def unique(self) -> str:
        """A fresh token, so tests sharing one server (or bucket, or database) never see each other's data."""
        return uuid.uuid4().hex[:12]

    async def test_lifecycle_methods_follow_the_protocols(self, service: Any) -> None:
        """A method named like a lifecycle protocol (``xcore._services.hooks``) is one: same coroutine shape.

        The container calls a service's ``plugin_unloaded``, ``host_started``... only when the service
        matches the protocol; a method with the right name and the wrong shape would be called and fail.
        """
        implemented = lifecycle_methods(service)
        for name, protocol in LIFECYCLE_PROTOCOLS.items():
            method = getattr(service, name, None)
            if method is None:
                continue
            assert name in implemented, f"{name} does not match {protocol.__name__}"
            assert inspect.iscoroutinefunction(method), f"{type(service).__name__}.{name} must be 'async def'"
            expected = [p for p in inspect.signature(getattr(protocol, name)).parameters if p != "self"]
            try:
                inspect.signature(method).bind(*expected)
            except TypeError as exc:
                shape = f"{type(service).__name__}.{name} must take ({', '.join(expected)})"
                raise AssertionError(f"{shape}: {exc}") from None
        if "plugin_unloaded" in implemented:
            await service.plugin_unloaded("conformance-no-such-plugin")  # a plugin that never used the service
