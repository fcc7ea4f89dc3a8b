"""Typed service access for plugin authors: ``py.typed`` is shipped, ``get_service`` has types.

The built-in names ``cache``, ``scheduler`` and ``events`` have their API types for type checkers;
``get_service(name, Type)`` works for any name, checks the service with ``isinstance`` at lookup
(one ``TypeError`` naming the service and both types) and is typed as ``Type``. mypy itself is run
on plugin code to prove what it infers.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import xcore
from xcore import Xcore
from xcore._builtin_services.cache import Cache
from xcore._builtin_services.sql import SqlDatabase
from xcore._builtin_services.sqlasync import AsyncSqlDatabase
from xcore._builtin_services.storage import Storage
from xcore.sdk import TrustedBase

ROOT = Path(__file__).resolve().parent.parent


class Typed(TrustedBase):
    async def on_load(self) -> None:
        self.cache = self.get_service("cache", Cache)
        self.db = self.get_service("db", (SqlDatabase, AsyncSqlDatabase))


async def test_a_typed_lookup_returns_the_service_or_names_both_types() -> None:
    host = Xcore(plugins={"typed": Typed}, discover=False)
    await host.boot()
    try:
        plugin = host.records["typed"].handle.instance  # type: ignore[union-attr]
        assert plugin.cache is host.get_service("cache") and isinstance(plugin.db, SqlDatabase)
        with pytest.raises(TypeError) as info:
            plugin.get_service("cache", Storage)
        assert str(info.value) == (
            "service 'cache' is a xcore._builtin_services.cache.memory.MemoryCache, not Storage: "
            "check the type configured for it in integration.yaml"
        )
        with pytest.raises(TypeError, match=r"service 'db' is a .*SqlDatabase, not AsyncSqlDatabase or Storage"):
            plugin.get_service("db", (AsyncSqlDatabase, Storage))
        with pytest.raises(KeyError, match="Did you mean 'cache'"):
            plugin.get_service("cahce", Cache)
    finally:
        await host.shutdown()


def test_py_typed_is_shipped_and_declared_as_package_data() -> None:
    assert (Path(xcore.__file__).parent / "py.typed").is_file()
    assert '"xcore" = ["py.typed"]' in (ROOT / "pyproject.toml").read_text()


PLUGIN_CODE = """
from typing import Any

from xcore._builtin_services.sql import SqlDatabase
from xcore.sdk import TrustedBase


class Plugin(TrustedBase):
    async def on_load(self) -> None:
        reveal_type(self.get_service("cache"))
        reveal_type(self.get_service("scheduler"))
        reveal_type(self.get_service("events"))
        reveal_type(self.get_service("db", SqlDatabase))
        reveal_type(self.get_service("ext.anything"))
        await self.get_service("cache").get(1, 2, 3)
"""


def test_mypy_knows_the_service_types(tmp_path: Path) -> None:
    import mypy.api as api  # the dev extra: missing is a failure

    (tmp_path / "typed_plugin.py").write_text(textwrap.dedent(PLUGIN_CODE))
    stdout, _, _ = api.run(["--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"),
                            str(tmp_path / "typed_plugin.py")])  # fmt: skip
    revealed = [line.split("Revealed type is ")[1].strip('"') for line in stdout.splitlines() if "Revealed" in line]
    assert revealed == [
        "xcore._builtin_services.cache.base.Cache",
        "xcore._builtin_services.scheduler.view.PluginScheduler",
        "xcore._events.view.EventsView",
        "xcore._builtin_services.sql.service.SqlDatabase",
        "Any",
    ], stdout
    assert 'Too many arguments for "get" of "Cache"' in stdout  # the cache's API is checked
