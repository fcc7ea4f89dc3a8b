"""A second sandboxed plugin: it must keep serving while its neighbour misbehaves."""

from __future__ import annotations

from typing import Any

from xcore.sdk import TrustedBase, action, ok


class Other(TrustedBase):
    async def on_load(self) -> None:
        with open("secret.txt", "w") as fh:
            fh.write("other's private data")

    @action()
    async def ping(self, payload: dict[str, Any]) -> dict[str, Any]:
        return ok(pong=True)
