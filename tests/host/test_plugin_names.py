"""A plugin name in ``plugins.enabled`` / ``disabled`` / ``settings`` that nothing installed has.

``enabled: [greeting]`` for the installed plugin ``greetings`` used to load nothing in silence. It
is now a warning naming the key and the closest name (logged at boot, printed by ``xcore config
check``), and an error that stops the boot under ``app.strict``. Service lookups name the closest
service the same way.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from xcore import Xcore
from xcore._errors import ConfigError

from .support import Site, config
from .test_cli import write_config, xcore

GREETINGS = """
from xcore.sdk import TrustedBase

class Plugin(TrustedBase):
    async def on_load(self):
        self.service = self.get_service("database")
"""


async def test_unknown_names_are_warnings_with_the_closest_name(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    site.plugin("greetings", "from xcore.sdk import TrustedBase\nclass Plugin(TrustedBase): pass\n")
    host = Xcore(config=config(plugins={"enabled": ["greeting"], "disabled": ["greetngs"],
                                        "settings": {"greting": {"a": 1}}}))  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="xcore"):
        await host.boot()
    await host.shutdown()
    assert host.config_warnings == [
        f"plugins.{key}: no installed {what} is named {name!r}. Did you mean 'greetings'? Installed plugins: "
        + ", ".join(sorted(r.name for r in host.plugins if r.source.kind == "plugin"))
        for key, what, name in (("enabled", "plugin", "greeting"), ("disabled", "plugin or service backend",
                                "greetngs"), ("settings", "plugin", "greting"))
    ]  # fmt: skip
    assert [r.message for r in caplog.records if r.levelno == logging.WARNING] == host.config_warnings


async def test_a_service_backend_may_be_disabled_by_name_and_known_names_are_quiet(site: Site) -> None:
    site.plugin("greetings", "from xcore.sdk import TrustedBase\nclass Plugin(TrustedBase): pass\n")
    host = Xcore(config=config(plugins={"enabled": ["greetings"], "disabled": ["storage"],
                                        "settings": {"greetings": {"a": 1}}}))  # fmt: skip
    host.prepare()
    assert host.config_warnings == []


async def test_under_strict_an_unknown_name_stops_the_boot(site: Site) -> None:
    site.plugin("greetings", "from xcore.sdk import TrustedBase\nclass Plugin(TrustedBase): pass\n")
    host = Xcore(config=config(app={"strict": True}, plugins={"enabled": ["greeting"]}))
    with pytest.raises(ConfigError, match=r"plugins\.enabled: .*'greeting'\. Did you mean 'greetings'\?.*app\.strict"):
        await host.boot()
    assert not host.booted


def test_config_check_shows_the_warning_and_strict_makes_it_an_error(site: Site, tmp_path: Path) -> None:
    site.plugin("greetings", "from xcore.sdk import TrustedBase\nclass Plugin(TrustedBase): pass\n")
    path = write_config(tmp_path, config(plugins={"enabled": ["greeting"]}))
    result = xcore(site, "config", "check", "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert "valid, 1 warning(s) on stderr" in result.stdout
    assert "warning: plugins.enabled: no installed plugin is named 'greeting'. Did you mean 'greetings'?" in (
        result.stderr
    )
    strict = write_config(tmp_path, config(app={"strict": True}, plugins={"enabled": ["greeting"]}))
    refused = xcore(site, "config", "check", "--config", str(strict))
    assert refused.returncode == 2 and "Did you mean 'greetings'?" in refused.stderr
    assert "Traceback" not in refused.stderr


async def test_a_service_lookup_names_the_closest_service(site: Site) -> None:
    site.plugin("greetings", GREETINGS)
    host = Xcore(config=config(plugins={"enabled": ["greetings"]}, services={"databases": {
        "default": {"type": "sqlite", "url": "sqlite:///:memory:"}}}))  # fmt: skip
    await host.boot()
    await host.shutdown()
    error = next(r.error for r in host.plugins if r.name == "greetings")
    assert "no service named 'database'. Did you mean 'db'? Available services: db, default" in str(error)
