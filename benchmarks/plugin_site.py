"""Generated plugin distributions for the boot and memory benchmarks.

Each site is a folder laid out like ``site-packages`` (via :func:`xcore.testing.distributions.write_distribution`):
N installed plugin distributions, each a small ``TrustedBase`` plugin with one route and one action, plus one
distribution whose module writes a marker file when imported. The benchmarks disable that one: the marker
staying absent proves that discovery never imports a disabled plugin's code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchmarks.host_probe import MARKER_ENV
from xcore.testing.distributions import write_distribution

DISABLED_PLUGIN = "bench_disabled_probe"

PLUGIN_SOURCE = '''
"""Benchmark plugin {index}: one GET route, one action."""

from fastapi import APIRouter

from xcore.sdk import TrustedBase, action, ok

NAME = "{name}"


class Plugin(TrustedBase):
    def get_router(self) -> APIRouter:
        router = APIRouter()

        @router.get("/ping")
        async def ping() -> dict[str, str]:
            return {{"plugin": NAME}}

        return router

    @action("ping")
    async def ping(self, payload: dict) -> dict:
        return ok(plugin=NAME)
'''

DISABLED_SOURCE = '''
"""Writes a marker file when imported: it must never be, since the plugin is disabled."""

import os
from pathlib import Path

Path(os.environ["{marker_env}"]).write_text("imported")


class Plugin:
    pass
'''


@dataclass
class PluginSite:
    """A site folder holding ``len(names)`` enabled plugins (entry name ``names[i]``, module ``modules[i]``)."""

    path: Path
    names: list[str]
    modules: list[str]


def write_plugin_site(site: Path, count: int) -> PluginSite:
    """Install ``count`` benchmark plugins plus the disabled marker plugin into the folder ``site``."""
    names, modules = [], []
    for index in range(count):
        name = f"bench_p{index:04d}"
        module = f"{name}_plugin"
        write_distribution(
            site,
            f"xcore-{name.replace('_', '-')}",
            entry_points={"xcore.plugins": {name: f"{module}:Plugin"}},
            files={f"{module}.py": PLUGIN_SOURCE.format(index=index, name=name)},
        )
        names.append(name)
        modules.append(module)
    write_distribution(
        site,
        "xcore-bench-disabled-probe",
        entry_points={"xcore.plugins": {DISABLED_PLUGIN: "bench_disabled_probe_plugin:Plugin"}},
        files={"bench_disabled_probe_plugin.py": DISABLED_SOURCE.format(marker_env=MARKER_ENV)},
    )
    site.mkdir(parents=True, exist_ok=True)
    return PluginSite(site, names, modules)
