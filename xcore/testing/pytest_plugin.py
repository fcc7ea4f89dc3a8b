"""XCore's pytest plugin: fixtures that boot a real host around the plugins under test.

Installed with XCore (entry point ``pytest11``), so a plugin's own test suite only writes::

    import pytest
    from my_plugin import Plugin

    @pytest.fixture
    def xcore_plugins():
        return {"my_plugin": Plugin}

    async def test_route(xcore_client):
        response = await xcore_client.get("/plugins/my_plugin/hello")
        assert response.status_code == 200

Fixtures (all prefixed ``xcore_``):

* ``xcore_plugins``, ``xcore_config``, ``xcore_services``: what to boot; override them in a conftest
  or a test module, or per test with ``@pytest.mark.xcore(plugins=..., config=..., services=...)``.
* ``xcore_host``: the booted :class:`~xcore.testing.harness.XcoreTestHost` (``call``,
  ``get_service``, ``plugin``, ``run_job``, ``health``, ``host``, ``app``, ``client``).
* ``xcore_client``: its ``httpx.AsyncClient``.
* ``xcore_boot``: a factory, ``await xcore_boot(plugins=..., config=...)``, for tests booting several
  hosts or testing boot failures.

Every host runs in the test's ``tmp_path`` (the working directory is changed for the test), so the
embedded SQLite file and local storage under ``.xcore/`` never leak between tests. Installed
application plugins are not discovered unless a test passes ``discover=True``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # imported when a fixture runs: every pytest run loads this module, most never boot a host
    import httpx

    from xcore.testing.harness import XcoreTestHost

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover
    pytest_asyncio = None  # type: ignore[assignment]

BootFactory = Callable[..., Awaitable["XcoreTestHost"]]

MARKER = "xcore"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(plugins=None, config=None, services=None, discover=False, strict=True): "
        "what the xcore_host fixture boots for this test (overrides the xcore_* fixtures)",
    )


@pytest.fixture
def xcore_plugins() -> Mapping[str, Any]:
    """Plugins to boot, by name: a ``TrustedBase`` subclass, or a module with ``@hookimpl`` functions."""
    return {}


@pytest.fixture
def xcore_config() -> Mapping[str, Any]:
    """The configuration, shaped like ``integration.yaml``; empty means the embedded defaults."""
    return {}


@pytest.fixture
def xcore_services() -> Mapping[str, object]:
    """Services to replace with test doubles, by service name (``cache``, ``db``, ``ext.email``...)."""
    return {}


if pytest_asyncio is not None:

    @pytest_asyncio.fixture
    async def xcore_boot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[BootFactory]:
        """``await xcore_boot(plugins=..., config=..., services=..., discover=False, strict=True)``.

        Every host booted through it is shut down when the test ends, last booted first.
        """
        from xcore.testing.harness import boot_xcore

        monkeypatch.chdir(tmp_path)
        async with AsyncExitStack() as stack:

            async def boot(
                plugins: Mapping[str, Any] | None = None,
                config: Mapping[str, Any] | None = None,
                **options: Any,
            ) -> XcoreTestHost:
                return await stack.enter_async_context(boot_xcore(plugins, config, **options))

            yield boot

    @pytest_asyncio.fixture
    async def xcore_host(
        request: pytest.FixtureRequest,
        xcore_boot: BootFactory,
        xcore_plugins: Mapping[str, Any],
        xcore_config: Mapping[str, Any],
        xcore_services: Mapping[str, object],
    ) -> XcoreTestHost:
        """A host booted with ``xcore_plugins``, ``xcore_config`` and ``xcore_services`` (or the marker's)."""
        options: dict[str, Any] = {"plugins": xcore_plugins, "config": xcore_config, "services": xcore_services}
        marker = request.node.get_closest_marker(MARKER)
        if marker is not None:
            if marker.args:
                raise pytest.UsageError("@pytest.mark.xcore takes keyword arguments only (plugins=, config=, ...)")
            options.update(marker.kwargs)
        return await xcore_boot(**options)

    @pytest.fixture
    def xcore_client(xcore_host: XcoreTestHost) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` on the booted host's app (``await xcore_client.get("/health/ready")``)."""
        return xcore_host.client

else:  # pragma: no cover - without pytest-asyncio, say what is missing instead of failing oddly
    MISSING = "the XCore testing kit needs pytest-asyncio: pip install pytest-asyncio"

    @pytest.fixture
    def xcore_boot() -> None:
        pytest.fail(MISSING)

    @pytest.fixture
    def xcore_host() -> None:
        pytest.fail(MISSING)

    @pytest.fixture
    def xcore_client() -> None:
        pytest.fail(MISSING)
