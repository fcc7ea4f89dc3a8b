"""``/xcore/admin`` in headless Chromium against a real ``xcore serve``: log in, click disable, see the route go.

The browser does what an operator does: types the admin key into the login form, clicks the
``disable`` button of a plugin (mouse events at the button, so the form, its CSRF token and the
session cookie all go through the browser), and the test then checks over plain HTTP that the
plugin's route is gone. A screenshot of the page after the click is saved under the test's tmp dir.
"""

from __future__ import annotations

from pathlib import Path

from tests.cdp import browser_page

from .serving import served
from .support import SHOP_SOURCE as SHOP
from .support import Site, config

ADMIN_KEY = "browser-admin-key-77c1"
HOSTILE = """
from xcore.sdk import TrustedBase

class Plugin(TrustedBase):
    async def on_load(self):
        raise RuntimeError("<img src=x onerror=\\"document.title='owned'\\">")
"""


async def test_the_admin_page_in_a_browser_disables_a_plugin(site: Site, tmp_path: Path) -> None:
    shop, hostile = site.module("shop"), site.module("hostile")
    site.distribution(
        f"xcore-shop-{site.tag}",
        {"xcore.plugins": {"shop": f"{shop}:Plugin", "hostile": f"{hostile}:Plugin"}},
        {f"{shop}.py": SHOP, f"{hostile}.py": HOSTILE},
    )
    data = config(app={"admin_key": ADMIN_KEY}, plugins={"enabled": ["shop", "hostile"]},
                  services={"events": {"backend": "memory"}, "scheduler": {"backend": "memory"}})  # fmt: skip
    with served(site, data) as server:
        assert server.get("/plugins/shop/items")[0] == 200
        async with browser_page() as page:
            await page.navigate(f"{server.base}/xcore/admin")
            assert await page.evaluate("document.querySelector('input[name=key]') !== null")
            await page.type_into("input[name=key]", ADMIN_KEY)
            await page.click("button[type=submit]")

            assert await page.evaluate("document.querySelector('table.plugins') !== null"), await page.evaluate(
                "document.body.innerText"
            )
            text = await page.evaluate("document.body.innerText")
            assert "shop" in text and "loaded" in text and "failed" in text
            assert "<img src=x" in text  # the hostile error is shown as text ...
            assert await page.evaluate("document.title") == "XCore admin"  # ... and never ran
            assert await page.evaluate("document.querySelectorAll('img').length") == 0
            cookie = await page.evaluate("document.cookie")
            assert cookie == ""  # HttpOnly: no script can read the session

            await page.click("button[data-plugin=shop][value=disable]")

            outcome = await page.evaluate("document.getElementById('outcome').innerText")
            assert "disable shop" in outcome and "disabled" in outcome
            shot = await page.screenshot(tmp_path / "admin-page.png")
        assert shot.startswith(b"\x89PNG\r\n\x1a\n") and len(shot) > 5_000
        assert (tmp_path / "admin-page.png").stat().st_size == len(shot)
        status, body = server.get("/plugins/shop/items")
        assert status == 404 and "plugin 'shop' is disabled" in body
    assert ADMIN_KEY not in server.log_text()
