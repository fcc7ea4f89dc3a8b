"""A small Chrome DevTools Protocol client: headless Chromium driven over its debugging WebSocket.

Enough for a page test: open a page, wait for its load, evaluate an expression, click at an element
the way a user does (mouse events at its centre, not a ``click()`` call), type text, screenshot.
Chromium is Debian's ``chromium``; the WebSocket client is ``websockets`` (installed with uvicorn).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import websockets

from tests.ci import unavailable
from xcore.testing.servers import free_port


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        unavailable("chromium is not installed (apt-get install chromium)")
    return found


class Page:
    """One browser tab, over its DevTools WebSocket."""

    def __init__(self, socket: Any) -> None:
        self._socket = socket
        self._ids = itertools.count(1)
        self._events: list[dict[str, Any]] = []

    async def send(self, method: str, timeout: float = 30.0, **params: Any) -> dict[str, Any]:
        message_id = next(self._ids)
        await self._socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        async with asyncio.timeout(timeout):
            while True:
                message = json.loads(await self._socket.recv())
                if message.get("id") == message_id:
                    if "error" in message:
                        raise AssertionError(f"{method}: {message['error']}")
                    result: dict[str, Any] = message.get("result", {})
                    return result
                self._events.append(message)

    async def wait_event(self, name: str, timeout: float = 30.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                for index, event in enumerate(self._events):
                    if event.get("method") == name:
                        del self._events[: index + 1]
                        return event
                self._events.append(json.loads(await self._socket.recv()))

    async def navigate(self, url: str) -> None:
        self._events.clear()
        await self.send("Page.navigate", url=url)
        await self.wait_event("Page.loadEventFired")

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    async def click(self, selector: str, *, navigates: bool = True) -> None:
        """Press and release the mouse at the centre of the element ``selector`` matches."""
        box = await self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return null;"
            f" e.scrollIntoView(); const r = e.getBoundingClientRect();"
            f" return [r.left + r.width / 2, r.top + r.height / 2]; }})()"
        )
        if box is None:
            raise AssertionError(f"no element matches {selector!r}")
        self._events.clear()
        for kind in ("mousePressed", "mouseReleased"):
            await self.send("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)
        if navigates:
            await self.wait_event("Page.loadEventFired")

    async def type_into(self, selector: str, text: str) -> None:
        await self.click(selector, navigates=False)
        await self.send("Input.insertText", text=text)

    async def screenshot(self, path: Path) -> bytes:
        data = base64.b64decode((await self.send("Page.captureScreenshot", format="png"))["data"])
        path.write_bytes(data)
        return data


@contextlib.asynccontextmanager
async def browser_page(width: int = 1280, height: int = 900) -> AsyncIterator[Page]:
    """A headless Chromium with one page, closed (and its profile removed) at the end."""
    port = free_port()
    profile = tempfile.mkdtemp(prefix="xcore-chromium-")
    process = subprocess.Popen(
        [chromium_path(), "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--remote-debugging-port={port}", f"--user-data-dir={profile}", f"--window-size={width},{height}",
         "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        targets: list[dict[str, Any]] = []
        while not targets:
            if time.monotonic() > deadline or process.poll() is not None:
                raise AssertionError("chromium did not open its DevTools port")
            with contextlib.suppress(httpx.TransportError):
                targets = [t for t in httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=2).json()
                           if t.get("type") == "page"]  # fmt: skip
            await asyncio.sleep(0.1)
        async with websockets.connect(targets[0]["webSocketDebuggerUrl"], max_size=64 * 2**20) as socket:
            page = Page(socket)
            await page.send("Page.enable")
            await page.send("Runtime.enable")
            yield page
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        shutil.rmtree(profile, ignore_errors=True)
