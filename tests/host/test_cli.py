"""The ``xcore`` command line, run as a user runs it (a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml

from xcore import __version__
from xcore.testing.servers import free_port, wait_for_port

from .support import NO_SERVICES, Site

PLUGIN = """
import click
from xcore import hookimpl
from xcore.sdk import TrustedBase

class Plugin(TrustedBase):
    @hookimpl
    def xcore_register_commands(self, cli):
        @cli.command("greet")
        def greet():
            click.echo("hello from a plugin command")
"""


def xcore(site: Site, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "PYTHONPATH": f"{site.root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "xcore", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=site.root.parent,
        timeout=60,
        check=False,
    )


def write_config(tmp_path: Path, data: dict[str, object]) -> Path:
    path = tmp_path / "integration.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_version(site: Site) -> None:
    result = xcore(site, "--version")
    assert result.returncode == 0 and __version__ in result.stdout


def test_plugins_lists_state_version_and_error(site: Site, tmp_path: Path) -> None:
    site.plugin("good", PLUGIN, dist="acme-good", version="1.2.3")
    site.plugin("bad", "raise ImportError('broken wheel')", dist="acme-bad")
    path = write_config(tmp_path, {"services": NO_SERVICES, "plugins": {"enabled": ["good", "bad"]}})
    result = xcore(site, "plugins", "--config", str(path), "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout) if row["kind"] == "plugin"}
    assert rows["good"]["state"] == "loaded" and rows["good"]["version"] == "1.2.3"
    assert rows["good"]["distribution"] == "acme-good" and "xcore_register_commands" in rows["good"]["hooks"]
    assert rows["bad"]["state"] == "failed" and "broken wheel" in rows["bad"]["error"]
    table = xcore(site, "plugins", "--config", str(path))
    assert "acme-good" in table.stdout and "broken wheel" in table.stdout


def test_strict_flag_makes_a_plugin_failure_exit_non_zero(site: Site, tmp_path: Path) -> None:
    site.plugin("bad", "raise ImportError('broken wheel')")
    path = write_config(tmp_path, {"services": NO_SERVICES, "plugins": {"enabled": ["bad"]}})
    result = xcore(site, "plugins", "--config", str(path), "--strict")
    assert result.returncode == 1
    assert "strict mode: plugins failed:" in result.stderr and "bad: import of" in result.stderr
    assert "Traceback" not in result.stderr.split("error:")[-1]


def test_config_check_prints_the_resolved_config_with_secrets_redacted(site: Site, tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        {
            "services": NO_SERVICES,
            "app": {"api_key": "${API_KEY}"},
            "plugins": {"settings": {"x": {"dsn": "postgresql://u:${PW}@h/db"}}},
        },
    )
    result = xcore(site, "config", "check", "--config", str(path), env={"API_KEY": "key-abc", "PW": "pw-xyz"})
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout and "postgresql://u:***@h/db" in result.stdout
    assert "key-abc" not in result.stdout and "pw-xyz" not in result.stdout


def test_config_check_reports_an_error_in_one_paragraph_with_exit_2(site: Site, tmp_path: Path) -> None:
    path = write_config(tmp_path, {"servics": {}})
    result = xcore(site, "config", "check", "--config", str(path))
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {path}: servics: unknown key; did you mean 'services'?"


def test_health_exit_code_follows_the_checks(site: Site, tmp_path: Path) -> None:
    site.plugin(
        "sick",
        """
from xcore.sdk import TrustedBase
class Plugin(TrustedBase):
    async def health(self):
        return False
""",
    )
    ok_config = write_config(tmp_path, {"services": NO_SERVICES, "plugins": {"enabled": []}})
    assert xcore(site, "health", "--config", str(ok_config)).returncode == 0
    sick_config = write_config(tmp_path, {"services": NO_SERVICES, "plugins": {"enabled": ["sick"]}})
    result = xcore(site, "health", "--config", str(sick_config), "--json")
    assert result.returncode == 1 and json.loads(result.stdout)["plugins"]["sick"]["status"] == "error"


def test_an_async_register_commands_is_refused_with_a_warning_and_the_others_still_add_theirs(site: Site) -> None:
    site.plugin("greeter", PLUGIN)
    site.plugin(
        "eager",
        PLUGIN.replace("def xcore_register_commands", "async def xcore_register_commands").replace(
            '"greet"', '"eager-greet"'
        ),
    )
    result = xcore(site, "greet")
    assert result.returncode == 0 and result.stdout.strip() == "hello from a plugin command"
    assert (
        "warning: plugin 'xcore.plugins:eager' not loaded for CLI commands: xcore_register_commands is a "
        "coroutine function, but it is called outside any event loop"
    ) in result.stderr
    assert "never awaited" not in result.stderr


def test_plugins_add_commands_and_disabled_plugins_do_not(site: Site, tmp_path: Path) -> None:
    site.plugin("greeter", PLUGIN)
    result = xcore(site, "greet")
    assert result.returncode == 0 and result.stdout.strip() == "hello from a plugin command"
    path = write_config(tmp_path, {"plugins": {"disabled": ["greeter"]}})
    hidden = xcore(site, "greet", env={"XCORE_CONFIG": str(path)})
    assert hidden.returncode == 2 and "No such command 'greet'" in hidden.stderr


def test_services_lists_the_embedded_defaults_with_provider_and_health(site: Site) -> None:
    result = xcore(site, "services", "--json")  # no config file: the embedded defaults
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert {name: (row["kind"], row["type"], row["provided_by"], row["health"]) for name, row in rows.items()} == {
        "default": ("database", "sqlite", "xcore-host", "ok"),
        "cache": ("cache", "memory", "xcore-host", "ok"),
        "events": ("events", "memory", "xcore-host", "ok"),
        "scheduler": ("scheduler", "memory", "xcore-host", "ok"),
        "tasks": ("tasks", "memory", "xcore-host", "ok"),
        "ext.storage": ("extension", "local", "xcore-host", "ok"),
    }


def test_config_check_prints_service_settings_as_their_type_validated_them(site: Site, tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        {
            "services": {
                "databases": {},
                "extensions": {
                    "email": {
                        "type": "smtp",
                        "host": "mail.test",
                        "port": "${SMTP_PORT}",
                        "password": "${SMTP_PASSWORD}",
                        "user": "mailer@mail.test",
                    }
                },
            }
        },
    )
    result = xcore(site, "config", "check", "--config", str(path), env={"SMTP_PORT": "2525", "SMTP_PASSWORD": "pw-1"})
    assert result.returncode == 0, result.stderr
    email = yaml.safe_load(result.stdout)["services"]["extensions"]["email"]
    assert (email["type"], email["port"], email["password"]) == ("smtp", 2525, "***")
    assert email["sender"] == "mailer@mail.test"  # the login, an address, is the default sender
    assert "pw-1" not in result.stdout


def test_serve_with_a_bad_service_section_fails_in_one_paragraph_before_serving(site: Site, tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        {
            "services": {
                **NO_SERVICES,
                "databases": {"default": {"type": "postgresq", "url": "postgresql://app:hunter2@127.0.0.1:1/app"}},
            }
        },
    )
    result = xcore(site, "serve", "--config", str(path), "--port", "0")
    assert result.returncode == 2
    assert result.stderr.startswith(
        "error: services.databases.default: unknown database type 'postgresq'. Did you mean 'postgresql'?"
    )
    assert "Traceback" not in result.stderr and "hunter2" not in result.stderr


STACK_PROBE = """
import asyncio, gc
from fastapi import APIRouter
from xcore.sdk import TrustedBase

class Plugin(TrustedBase):
    def get_router(self):
        router = APIRouter()

        @router.get("/stack")
        async def stack():
            protocols = {type(o).__name__ for o in gc.get_objects() if isinstance(o, asyncio.Protocol)}
            return {"loop": type(asyncio.get_running_loop()).__module__, "protocols": sorted(protocols)}

        return router
"""


@pytest.mark.parametrize(
    ("options", "loop", "protocol"),
    [([], "uvloop", "HttpToolsProtocol"), (["--loop", "asyncio", "--http", "h11"], "asyncio", "H11Protocol")],
    ids=["default", "asyncio-h11"],
)
def test_serve_runs_uvloop_and_httptools_by_default_and_the_options_choose(
    site: Site, tmp_path: Path, options: list[str], loop: str, protocol: str
) -> None:
    (site.root / f"stack_probe_{site.tag}.py").write_text(STACK_PROBE)
    path = write_config(
        tmp_path, {"services": NO_SERVICES, "plugins": {"local": {"probe": f"stack_probe_{site.tag}:Plugin"}}}
    )
    port = free_port()
    environment = {**os.environ, "PYTHONPATH": f"{site.root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    process = subprocess.Popen(
        [sys.executable, "-m", "xcore", "serve", "--config", str(path), "--port", str(port), *options],
        env=environment,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for_port(port, timeout=30, process=process)  # type: ignore[arg-type]
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
            f"http://127.0.0.1:{port}/plugins/probe/stack", timeout=10
        ) as response:
            answer = json.loads(response.read())
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)
    assert answer["loop"].split(".")[0] == loop, output
    assert protocol in answer["protocols"], (answer, output)
    assert {"HttpToolsProtocol", "H11Protocol"} - {protocol} - set(answer["protocols"]), "only one HTTP stack runs"
