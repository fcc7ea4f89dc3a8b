"""Shared pieces of the host tests: a services-free config and throwaway plugin distributions."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from xcore.testing.configs import no_services
from xcore.testing.distributions import write_distribution

NO_SERVICES: dict[str, Any] = no_services()
"""The ``services`` section turning every service off (read-only here; ``config()`` builds fresh ones)."""


def config(**sections: Any) -> dict[str, Any]:
    """A config with no services (unless given) and the given sections."""
    data: dict[str, Any] = {key: value for key, value in sections.items() if key != "services"}
    data["services"] = no_services(**sections.get("services", {}))
    return data


class Site:
    """A folder on ``sys.path`` in which tests 'pip install' plugin distributions."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tag = uuid.uuid4().hex[:8]
        self.modules: list[str] = []

    def module(self, stem: str) -> str:
        """A module name unique to this test (``sys.modules`` outlives a test)."""
        name = f"{stem}_{self.tag}"
        self.modules.append(name)
        return name

    def plugin(
        self,
        name: str,
        source: str,
        dist: str | None = None,
        version: str = "1.0.0",
        group: str = "xcore.plugins",
        attr: str = "Plugin",
    ) -> str:
        """Install distribution ``dist`` (default ``xcore-<name>``) with one plugin entry point."""
        module = self.module(name.replace("-", "_"))
        write_distribution(
            self.root,
            dist or f"xcore-{name}-{self.tag}",
            version,
            entry_points={group: {name: f"{module}:{attr}" if attr else module}},
            files={f"{module}.py": source},
        )
        return module

    def distribution(
        self, dist: str, entry_points: Mapping[str, Mapping[str, str]], files: Mapping[str, str], version: str = "1.0.0"
    ) -> None:
        write_distribution(self.root, dist, version, entry_points, files)

    def cleanup(self) -> None:
        for name in self.modules:
            sys.modules.pop(name, None)


SHOP_SOURCE = """
from fastapi import APIRouter
from xcore.sdk import TrustedBase

class Plugin(TrustedBase):
    def get_router(self):
        router = APIRouter()

        @router.get("/items")
        async def items():
            return ["apple"]

        return router
"""
"""A plugin module with one route, ``GET /items`` -> ``["apple"]``: what the admin tests disable and enable."""


def shop_plugin() -> type:
    """:data:`SHOP_SOURCE`'s plugin class, for hosts built in process."""
    namespace: dict[str, Any] = {"__name__": __name__}
    exec(compile(SHOP_SOURCE, "<shop>", "exec"), namespace)
    plugin: type = namespace["Plugin"]
    return plugin
