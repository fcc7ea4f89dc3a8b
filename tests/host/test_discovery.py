"""Discovery, ordering and failure isolation, with plugins installed as real distributions."""

from __future__ import annotations

import sys

import pytest

from xcore import Xcore
from xcore._errors import BootError, PluginNotFoundError

from .support import Site, config

CLASS_PLUGIN = """
from xcore.sdk import TrustedBase, action, ok

EVENTS = []

class Plugin(TrustedBase):
    requires = {requires!r}
    load_after = {after!r}

    async def on_load(self):
        EVENTS.append(("load", self.ctx.name))

    async def on_unload(self):
        EVENTS.append(("unload", self.ctx.name))
        {unload_extra}

    @action()
    async def whoami(self, payload):
        return ok(name=self.ctx.name, config=dict(self.ctx.config))
"""


def class_plugin(requires: tuple[str, ...] = (), after: tuple[str, ...] = (), unload_extra: str = "pass") -> str:
    return CLASS_PLUGIN.format(requires=requires, after=after, unload_extra=unload_extra)


def state(host: Xcore, name: str) -> tuple[str, str | None]:
    record = host.records[name]
    return record.state, record.error


async def boot(site: Site, **sections: object) -> Xcore:
    host = Xcore(config=config(**sections))
    await host.boot()
    return host


async def test_installed_plugin_is_found_by_its_entry_point_name_with_its_distribution_version(site: Site) -> None:
    site.plugin("greeter", class_plugin(), dist="acme-greeter", version="2.3.4")
    host = await boot(site, plugins={"enabled": ["greeter"], "settings": {"greeter": {"hello": "world"}}})
    try:
        record = host.records["greeter"]
        assert (record.state, record.source.distribution, record.source.version) == ("loaded", "acme-greeter", "2.3.4")
        assert await host.call("greeter", "whoami", {}) == {
            "status": "ok",
            "name": "greeter",
            "config": {"hello": "world"},
        }
    finally:
        await host.shutdown()


async def test_module_plugin_with_hookimpl_functions(site: Site) -> None:
    site.plugin(
        "modplug",
        """
        from xcore import hookimpl
        from xcore.sdk import ok
        LOADED = []

        @hookimpl
        def xcore_on_load(ctx):
            LOADED.append(ctx.name)

        @hookimpl
        async def xcore_handle(ctx, action, payload):
            return ok(action=action, seen=payload, loaded=LOADED)
    """,
        attr="",
    )
    host = await boot(site, plugins={"enabled": ["modplug"]})
    try:
        assert await host.call("modplug", "ping", {"x": 1}) == {
            "status": "ok",
            "action": "ping",
            "seen": {"x": 1},
            "loaded": ["modplug"],
        }
    finally:
        await host.shutdown()


async def test_load_in_dependency_order_and_unload_in_reverse(site: Site) -> None:
    # "alpha" sorts first but requires "beta", which must load after "gamma".
    shared = site.module("events_log")
    site.distribution("shared-log", {}, {f"{shared}.py": "EVENTS = []\n"})
    source = class_plugin().replace("EVENTS = []", f"from {shared} import EVENTS")
    site.plugin("alpha", source.replace("requires = ()", "requires = ('beta',)"))
    site.plugin("beta", source.replace("load_after = ()", "load_after = ('gamma', 'absent')"))
    site.plugin("gamma", source)
    host = await boot(site, plugins={"enabled": ["alpha", "beta", "gamma"]})
    await host.shutdown()
    events = sys.modules[shared].EVENTS
    assert events == [
        ("load", "gamma"),
        ("load", "beta"),
        ("load", "alpha"),
        ("unload", "alpha"),
        ("unload", "beta"),
        ("unload", "gamma"),
    ]


async def test_missing_requirement_fails_only_that_plugin_naming_the_requirement(site: Site) -> None:
    site.plugin("needy", class_plugin(requires=("ghost",)))
    site.plugin("fine", class_plugin())
    host = await boot(site, plugins={"enabled": ["needy", "fine"]})
    try:
        assert state(host, "needy") == ("failed", "requires plugin 'ghost', which is not installed or not enabled")
        assert state(host, "fine") == ("loaded", None)
    finally:
        await host.shutdown()


async def test_cycle_fails_the_plugins_on_it_naming_each_other(site: Site) -> None:
    site.plugin("ping", class_plugin(requires=("pong",)))
    site.plugin("pong", class_plugin(requires=("ping",)))
    site.plugin("bystander", class_plugin())
    host = await boot(site, plugins={"enabled": ["ping", "pong", "bystander"]})
    try:
        assert host.records["ping"].state == host.records["pong"].state == "failed"
        assert "cycle" in str(host.records["ping"].error) and "pong" in str(host.records["ping"].error)
        assert "ping" in str(host.records["pong"].error)
        assert state(host, "bystander") == ("loaded", None)
    finally:
        await host.shutdown()


async def test_a_plugin_whose_requirement_fails_at_load_fails_too(site: Site) -> None:
    failing = class_plugin().replace('EVENTS.append(("load", self.ctx.name))', "raise RuntimeError('db down')")
    site.plugin("base", failing)
    site.plugin("child", class_plugin(requires=("base",)))
    host = await boot(site, plugins={"enabled": ["base", "child"]})
    try:
        assert state(host, "base") == ("failed", "on_load raised RuntimeError: db down")
        assert host.records["child"].state == "failed"
        assert "requires plugin 'base', which failed" in str(host.records["child"].error)
    finally:
        await host.shutdown()


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("raise ImportError('no such driver')", "import of {module}:Plugin failed: ImportError: no such driver"),
        (
            class_plugin().replace('EVENTS.append(("load", self.ctx.name))', "raise ValueError('bad')"),
            "on_load raised ValueError: bad",
        ),
        (
            class_plugin().replace('EVENTS.append(("load", self.ctx.name))', "import asyncio; await asyncio.sleep(30)"),
            "on_load did not finish within 0.2s (app.load_timeout)",
        ),
        (
            class_plugin() + "\n    def get_router(self):\n        raise KeyError('routes')\n",
            "get_router raised KeyError: 'routes'",
        ),
        (
            class_plugin() + "\n    def get_router(self):\n        return 42\n",
            "get_router raised TypeError: get_router returned int, expected fastapi.APIRouter or None",
        ),
        (
            "from xcore import hookimpl\n@hookimpl\ndef xcore_onload(ctx):\n    pass\n",
            "unknown hook implementation(s): xcore_onload (did you mean xcore_on_load?)",
        ),
    ],
    ids=["import-error", "on_load-raises", "on_load-timeout", "get_router-raises", "get_router-bad-type", "hook-typo"],
)
async def test_each_failure_kind_is_recorded_and_the_others_still_load(site: Site, source: str, expected: str) -> None:
    attr = "" if "xcore_onload" in source else "Plugin"
    module = site.plugin("broken", source, attr=attr)
    site.plugin("healthy", class_plugin())
    host = await boot(site, app={"load_timeout": 0.2}, plugins={"enabled": ["broken", "healthy"]})
    try:
        assert state(host, "broken") == ("failed", expected.format(module=module))
        assert await host.call("healthy", "whoami") == {"status": "ok", "name": "healthy", "config": {}}
        with pytest.raises(PluginNotFoundError, match="failed to load"):
            await host.call("broken", "whoami")
    finally:
        await host.shutdown()


async def test_two_distributions_claiming_one_name_fail_that_plugin_naming_both(site: Site) -> None:
    site.plugin("dupe", class_plugin(), dist="vendor-one")
    site.plugin("dupe", class_plugin(), dist="vendor-two")
    site.plugin("other", class_plugin())
    host = await boot(site, plugins={"enabled": ["dupe", "other"]})
    try:
        record = host.records["dupe"]
        assert record.state == "failed"
        assert "vendor-one" in str(record.error) and "vendor-two" in str(record.error)
        assert state(host, "other") == ("loaded", None)
    finally:
        await host.shutdown()


async def test_disabled_plugin_code_is_never_imported(site: Site) -> None:
    module = site.plugin("sleeper", "raise SystemExit('imported a disabled plugin')")
    site.plugin("awake", class_plugin())
    host = await boot(site, plugins={"disabled": ["sleeper"]})
    try:
        assert host.records["sleeper"].state == "disabled"
        assert module not in sys.modules
        assert host.records["awake"].state == "loaded"
    finally:
        await host.shutdown()


async def test_enabled_list_keeps_other_installed_plugins_out(site: Site) -> None:
    kept = site.plugin("kept", class_plugin())
    left = site.plugin("left", class_plugin())
    host = await boot(site, plugins={"enabled": ["kept"]})
    try:
        assert (host.records["kept"].state, host.records["left"].state) == ("loaded", "disabled")
        assert kept in sys.modules and left not in sys.modules
    finally:
        await host.shutdown()


async def test_local_plugin_named_module_attr(site: Site) -> None:
    module = site.module("localdev")
    (site.root / f"{module}.py").write_text(class_plugin())
    host = await boot(site, plugins={"enabled": [], "local": {"dev": f"{module}:Plugin"}})
    try:
        assert host.records["dev"].source.group == "local"
        assert (await host.call("dev", "whoami"))["name"] == "dev"
    finally:
        await host.shutdown()


async def test_strict_mode_turns_a_plugin_failure_into_a_boot_failure(site: Site) -> None:
    site.plugin("bad", class_plugin(requires=("ghost",)))
    host = Xcore(config=config(app={"strict": True}, plugins={"enabled": ["bad"]}))
    with pytest.raises(BootError, match="bad: requires plugin 'ghost'"):
        await host.boot()


async def test_shutdown_unloads_every_plugin_even_when_one_raises(site: Site) -> None:
    shared = site.module("unload_log")
    site.distribution("unload-log", {}, {f"{shared}.py": "EVENTS = []\n"})
    source = class_plugin().replace("EVENTS = []", f"from {shared} import EVENTS")
    site.plugin("first", source)
    site.plugin(
        "second",
        class_plugin(requires=("first",), unload_extra="raise RuntimeError('unload boom')").replace(
            "EVENTS = []", f"from {shared} import EVENTS"
        ),
    )
    host = await boot(site, plugins={"enabled": ["first", "second"]})
    await host.shutdown()
    assert sys.modules[shared].EVENTS[-2:] == [("unload", "second"), ("unload", "first")]
    assert host.records["first"].state == "unloaded"


async def test_unknown_plugin_and_unknown_action_are_clear(site: Site) -> None:
    site.plugin("known", class_plugin())
    host = await boot(site, plugins={"enabled": ["known"]})
    try:
        with pytest.raises(PluginNotFoundError, match="no plugin named 'nope'; plugins with actions: known"):
            await host.call("nope", "x")
        from xcore.sdk import ActionNotFound

        with pytest.raises(ActionNotFound, match="plugin 'known' has no action 'fly'; known actions: whoami"):
            await host.call("known", "fly")
    finally:
        await host.shutdown()


async def test_plugin_to_plugin_call_through_the_context(site: Site) -> None:
    site.plugin("callee", class_plugin())
    site.plugin(
        "caller",
        """
        from xcore.sdk import TrustedBase, action, ok

        class Plugin(TrustedBase):
            requires = ("callee",)

            @action()
            async def relay(self, payload):
                answer = await self.ctx.call("callee", "whoami", {})
                return ok(relayed=answer["name"])
    """,
    )
    host = await boot(site, plugins={"enabled": ["callee", "caller"]})
    try:
        assert await host.call("caller", "relay") == {"status": "ok", "relayed": "callee"}
    finally:
        await host.shutdown()


async def test_entry_points_are_read_once_per_boot(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib_metadata

    calls = []
    real = importlib_metadata.entry_points

    def counting(**kwargs: object) -> object:
        calls.append(kwargs)
        return real(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(importlib_metadata, "entry_points", counting)
    for index in range(5):
        site.plugin(f"many{index}", class_plugin())
    host = await boot(site, plugins={"enabled": [f"many{index}" for index in range(5)]})
    try:
        assert sum(r.state == "loaded" for r in host.plugins if r.source.kind == "plugin") == 5
        assert len(calls) == 1
    finally:
        await host.shutdown()
