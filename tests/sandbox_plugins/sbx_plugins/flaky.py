"""Loads once; every later start fails (a marker in its own folder says it ran before)."""

from __future__ import annotations

import os
from typing import Any

from xcore.sdk import TrustedBase, action, ok


class Flaky(TrustedBase):
    async def on_load(self) -> None:
        if os.path.exists("started-once"):
            raise RuntimeError("cannot start twice")
        open("started-once", "w").close()

    @action()
    async def ping(self, payload: dict[str, Any]) -> dict[str, Any]:
        return ok()
