"""The deliberate public surface: xcore, xcore.sdk, xcore.backends; errors; light imports; redaction's lifetime."""

from __future__ import annotations

import importlib
import inspect
import logging
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import xcore
from xcore import Xcore
from xcore._config.models import PluginsConfig
from xcore._discovery import PluginSource
from xcore._errors import XcoreError
from xcore._host.registry import is_enabled
from xcore.sdk import ActionNotFound

XCORE = Path(xcore.__file__).parent


@pytest.mark.parametrize("module", ["xcore._services", "xcore.backends", "xcore._errors"])
def test_backend_modules_do_not_load_fastapi(module: str) -> None:
    code = f"import sys, {module}; print('fastapi' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


@pytest.mark.parametrize("module", ["xcore", "xcore.sdk", "xcore.backends", "xcore.testing.conformance"])
def test_public_modules_declare_their_names(module: str) -> None:
    imported = importlib.import_module(module)
    assert imported.__all__, module
    for name in imported.__all__:
        assert getattr(imported, name) is not None, f"{module}.{name}"


PUBLIC_MODULES = {"xcore", "xcore.sdk", "xcore.backends", "xcore.web", "xcore.testing"}


def test_every_other_module_is_private_by_name() -> None:
    """The public surface is deliberate: a module outside it has an underscore somewhere in its path,
    so ``from xcore.<x> import ...`` of an implementation module reads as what it is."""
    public = []
    for info in pkgutil.walk_packages([str(XCORE)], "xcore."):
        name = info.name
        if name in PUBLIC_MODULES or name.startswith("xcore.testing."):
            continue
        if not any(part.startswith("_") for part in name.split(".")[1:]):
            public.append(name)
    assert public == []


def test_the_documented_imports_come_from_public_modules() -> None:
    """What the docs tell plugin and backend authors to import is there, under the public names."""
    import xcore.backends
    import xcore.sdk

    for name in (
        "on",
        "SqlDatabase",
        "AsyncSqlDatabase",
        "RedisDatabase",
        "Cache",
        "PluginScheduler",
        "SmtpEmail",
        "Storage",
        "EventsView",
        "XcoreError",
        "ServiceNotFoundError",
        "kernel_events",
    ):
        assert getattr(xcore.sdk, name) is not None, name
    for name in ("Storage", "UploadData", "read_all", "StorageNotFoundError", "compose", "redact_text"):
        assert getattr(xcore.backends, name) is not None, name
    assert xcore.load_config is not None
    docs = Path(__file__).resolve().parents[1] / "docs"
    private_imports = [
        f"{page.name}: {line.strip()}"
        for page in docs.glob("*.md")
        for line in page.read_text().splitlines()
        if line.lstrip().startswith(("from xcore._", "import xcore._"))
        or line.lstrip().startswith(("from xcore.sdk._", "import xcore.sdk._"))
    ]
    assert private_imports == []


def test_hookimpl_has_one_public_home() -> None:
    import xcore.backends
    import xcore.sdk

    assert "hookimpl" in xcore.__all__
    assert "hookimpl" not in xcore.sdk.__all__ and "hookimpl" not in xcore.backends.__all__


def test_every_exception_xcore_defines_is_an_xcore_error() -> None:
    strays = []
    for info in pkgutil.walk_packages([str(XCORE)], "xcore."):
        if "scaffold.templates" in info.name or info.name.endswith("__main__") or "migrations.script" in info.name:
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == info.name
                and not name.startswith("_")
                and not issubclass(value, XcoreError)
            ):
                strays.append(f"{info.name}.{name}")
    assert strays == []


def test_action_not_found_is_an_xcore_error_and_still_a_lookup_error() -> None:
    error = ActionNotFound("shop", "buy", ["sell"])
    assert isinstance(error, XcoreError) and isinstance(error, LookupError)
    assert str(error) == "plugin 'shop' has no action 'buy'; known actions: sell"


def test_the_enable_rules() -> None:
    def source(name: str, group: str) -> PluginSource:
        return PluginSource(name=name, group=group, target=f"{name}:Plugin", load=lambda: None)

    rules = PluginsConfig(enabled=["a"], disabled=["b", "svc"])
    assert is_enabled(rules, source("a", "xcore.plugins"))
    assert not is_enabled(rules, source("c", "xcore.plugins"))  # not listed under enabled
    assert is_enabled(rules, source("c", "local"))  # named by the application itself
    assert not is_enabled(rules, source("b", "local"))  # disabled wins
    assert is_enabled(rules, source("cache", "xcore.services"))  # enabled lists plugins, not backends
    assert not is_enabled(rules, source("svc", "xcore.services"))


async def test_redaction_lives_as_long_as_a_host() -> None:
    before = logging.getLogRecordFactory()
    host = Xcore(
        config={
            "services": {"cache": {"enabled": False}, "scheduler": {"enabled": False}},
            "app": {"secret_key": "s3cr3t-value-here"},
        },
        discover=False,
    )
    await host.boot()
    try:
        assert logging.getLogRecordFactory() is not before
        record = logging.getLogger("t").makeRecord(
            "t", logging.INFO, __file__, 1, "key %s", ("s3cr3t-value-here",), None
        )
        assert "s3cr3t-value-here" not in record.getMessage()
    finally:
        await host.shutdown()
    assert logging.getLogRecordFactory() is before


def test_no_function_is_above_cyclomatic_complexity_20() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "radon", "cc", "-s", "-n", "D", str(XCORE)], capture_output=True, text=True, check=True
    )
    assert result.stdout == ""


def test_scheduler_modules_import_each_other_without_a_circle() -> None:
    import ast

    package = XCORE / "builtin_services" / "scheduler"
    prefix = "xcore._builtin_services.scheduler."
    graph: dict[str, set[str]] = {}
    for path in package.rglob("*.py"):
        name = ".".join(path.relative_to(package).with_suffix("").parts).removesuffix(".__init__")
        imported = {
            node.module.removeprefix(prefix)
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(prefix)
        }
        graph[name] = imported

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, set()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    assert sorted(m for m in graph if m != "__init__" and reaches(m, m, {m})) == []
