"""The status plugin: index page, plugin list, and the spec's health route."""

import pytest
from xcore_example_status import Plugin

from xcore.sdk import TrustedBase


class Broken(TrustedBase):
    async def on_load(self):
        raise RuntimeError("no <database> here")


class BrokenCache:
    async def set(self, key, value, ttl=None):
        raise ConnectionError("cache is down")


@pytest.fixture
def xcore_plugins():
    return {"status": Plugin}


async def test_index_lists_plugins_with_their_state(xcore_boot):
    xcore = await xcore_boot(plugins={"status": Plugin, "broken": Broken}, strict=False)
    page = await xcore.client.get("/plugins/status/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<a href="/docs#/status">/plugins/status</a>' in page.text
    assert "failed: on_load raised RuntimeError: no &lt;database&gt; here" in page.text  # escaped
    assert '<a href="/docs">' in page.text
    names = {p["name"]: p["state"] for p in (await xcore.client.get("/plugins/status/plugins")).json()["plugins"]}
    assert names == {"status": "loaded", "broken": "failed"}


async def test_health_route(xcore_client):
    assert (await xcore_client.get("/plugins/status/health")).json() == {
        "status": "healthy",
        "services": {"database": {"status": "ok"}, "cache": {"status": "ok"}},
    }


@pytest.mark.xcore(services={"cache": BrokenCache()})
async def test_health_route_reports_a_failing_cache(xcore_client):
    report = (await xcore_client.get("/plugins/status/health")).json()
    assert report["status"] == "unhealthy"
    assert report["services"]["cache"] == {"status": "error", "error": "cache is down"}
