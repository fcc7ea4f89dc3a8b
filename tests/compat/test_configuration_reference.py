"""docs/reference/configuration.md: its YAML as written, on real PostgreSQL and Redis.

Old spellings that mean the same are accepted with one warning each; settings of features XCore
does not have are refused with the reason; both are listed in docs/migrating.md.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from xcore import Xcore
from xcore._config import legacy
from xcore._errors import ConfigError
from xcore.testing.harness import boot_xcore

from .conftest import EXAMPLES

CONFIGS = EXAMPLES / "configuration"


@pytest.fixture(autouse=True)
def _fresh_warnings(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(legacy, "_warned", set())
    caplog.set_level(logging.WARNING, "xcore.config")


def asyncpg(url: str) -> str:
    return url.replace("postgresql://", "postgresql+asyncpg://", 1)


def test_top_example_refuses_plugin_signing_with_the_reason() -> None:
    env = {"APP_SECRET_KEY": "a" * 32, "PLUGIN_SECRET_KEY": "b" * 32, "DATABASE_URL": "postgresql://u:p@h/db"}
    with pytest.raises(ConfigError) as caught:
        Xcore(CONFIGS / "top.yaml", env=env)
    message = str(caught.value)
    assert "plugins.secret_key: the original XCore's setting, not supported: XCore does not sign plugins" in message
    assert "docs/migrating.md" in message
    assert "b" * 32 not in message and "a" * 32 not in message


async def test_top_example_without_signing_boots_on_postgres(postgres_server: Any, tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES / "quickstart" / "step2", tmp_path / "plugins")  # ./plugins/hello_world
    data = yaml.safe_load((CONFIGS / "top.yaml").read_text())
    del data["plugins"]["secret_key"]
    env = {"APP_SECRET_KEY": "k" * 32, "DATABASE_URL": postgres_server.url}
    async with boot_xcore(config=data, env=env) as xcore:
        plugin = xcore.plugin("hello_world")
        assert plugin.ctx.config.env == "production"
        assert plugin.ctx.config.app.secret_key == "k" * 32
        assert await xcore.call("hello_world", "hello", {"name": "Ann"}) == {"status": "ok", "message": "Hello, Ann!"}
        with xcore.get_service("db").session() as session:
            assert session.execute("SELECT 1").scalar() == 1
        report = await xcore.health()
        assert report["status"] == "ok" and "k" * 32 not in str(report)


async def test_database_and_cache_sections_as_written(
    postgres_server: Any, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    env = {
        "DATABASE_URL": postgres_server.url,
        "DATABASE_ASYNC_URL": asyncpg(postgres_server.url),
        "REDIS_URL": redis_url,
    }
    for _ in range(2):  # warned once per process, not once per boot
        host = Xcore(CONFIGS / "postgresql.yaml", env=env, discover=False)
        await host.boot()
        try:
            cache = host.get_service("cache")
            # "cache:" as written names the app part of the cache's own namespace
            assert cache.namespace == "cache:cache:"
            await cache.set("k", 1)
            assert host.get_service("redis_db").get("k") is None
            assert host.get_service("redis_db").exists("cache:cache:key:k") == 1
            async with host.get_service("async_default").connection() as conn:
                assert await conn.fetchval("SELECT 1") == 1
            assert (await host.health())["status"] == "ok"
        finally:
            await host.shutdown()
    warnings = [r.getMessage() for r in caplog.records if r.name == "xcore.config"]
    assert sorted(w.split(" ", 1)[0] for w in warnings) == [
        "services.cache.prefix",
        "services.databases.async_default.pool_pre_ping",
        "services.databases.default.pool_pre_ping",
        "services.databases.redis_db.socket_connect_timeout",
    ]
    assert any(
        "services.cache.prefix is the original XCore's spelling of services.cache.key_prefix" in w for w in warnings
    )


EXTENSIONS_ENV = {
    "SMTP_HOST": "mail",
    "SMTP_USER": "u",
    "SMTP_PASSWORD": "pw-secret",
    "S3_BUCKET": "bucket",
    "AWS_REGION": "eu-west-1",
    "AWS_ACCESS_KEY": "AKIA1",
    "AWS_SECRET_KEY": "aws-secret",
}
"""What ``configs/extensions.yaml``'s ``${VAR}`` references read."""


def test_extensions_section_module_is_explained() -> None:
    with pytest.raises(ConfigError) as caught:
        Xcore(CONFIGS / "extensions.yaml", env=EXTENSIONS_ENV)
    assert "services.extensions.custom_service.module: the original XCore loaded a service class" in str(caught.value)
    assert "xcore_register_service" in str(caught.value)


def test_extensions_old_spellings_mean_the_same(caplog: pytest.LogCaptureFixture) -> None:
    data = yaml.safe_load((CONFIGS / "extensions.yaml").read_text())
    del data["services"]["extensions"]["custom_service"]
    host = Xcore(config=data, env=EXTENSIONS_ENV, discover=False)
    host.prepare()
    settings = {checked.spec.name: checked.settings for checked in host.checked_services}
    assert settings["ext.email"].sender == "noreply@example.com"
    assert settings["ext.storage"].access_key_id == "AKIA1"
    assert settings["ext.storage"].secret_access_key.get_secret_value() == "aws-secret"
    assert "aws-secret" not in caplog.text and "pw-secret" not in caplog.text
    assert (
        "services.extensions.email.from_address is the original XCore's spelling of "
        "services.extensions.email.sender" in caplog.text
    )


def test_both_spellings_at_once_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"services\.cache\.prefix and services\.cache\.key_prefix are both set"):
        Xcore(config={"services": {"cache": {"backend": "memory", "prefix": "a", "key_prefix": "b"}}})


async def test_postgresql_aio_type_is_sqlasync(postgres_server: Any, caplog: pytest.LogCaptureFixture) -> None:
    databases = {"main": {"type": "postgresql+aio", "url": asyncpg(postgres_server.url)}}
    async with boot_xcore(config={"services": {"databases": databases}}) as xcore:
        session = xcore.get_service("main").session()
        async with session:
            assert (await session.execute("SELECT 1")).scalar() == 1
    assert "services.databases.main.type: 'postgresql+aio' is the original XCore's name of the 'sqlasync' type" in (
        caplog.text
    )


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ("app", "debug"),
        ("app", "plugin_tags"),
        ("plugins", "interval"),
        ("plugins", "strict_trusted"),
        ("observability", None),
        ("security", None),
    ],
)
def test_unsupported_settings_are_refused_with_their_reason(section: str, key: str | None) -> None:
    data: dict[str, Any] = {section: {key: False} if key else {"logging": {"level": "INFO"}}}
    with pytest.raises(ConfigError, match="the original XCore's setting, not supported") as caught:
        Xcore(config=data)
    assert (f"{section}.{key}" if key else section) in str(caught.value)


# ----------------------------------------------------------------------------------------- plugins.directory


def write_plugin(root: Path, folder: str, manifest: str, code: str) -> None:
    (root / folder / "src").mkdir(parents=True)
    (root / folder / "plugin.yaml").write_text(manifest)
    (root / folder / "src" / "main.py").write_text(code)


async def test_directory_manifest_requires_and_sandboxed_refusal(tmp_path: Path) -> None:
    root = tmp_path / "plugins"
    code = (
        "from xcore.sdk import TrustedBase, ok\nclass Plugin(TrustedBase):\n    async def handle(self, a, p):\n"
        "        return ok(name=self.name)\n"
    )
    write_plugin(root, "base", "name: base\nversion: 2.0.0\n", code)
    write_plugin(root, "child", "name: child\nrequires:\n  - base >= 1.2.0\n", code)
    write_plugin(root, "orphan", "name: orphan\nrequires: [missing_plugin]\n", code)
    write_plugin(root, "boxed", "name: boxed\nexecution_mode: sandboxed\n", code)
    write_plugin(root, "empty", "name: empty\n", "x = 1\n")
    async with boot_xcore(config={"plugins": {"directory": str(root)}}, strict=False) as xcore:
        assert await xcore.call("child", "x") == {"status": "ok", "name": "child"}
        assert xcore.host._load_order.index("base") < xcore.host._load_order.index("child")
        assert "requires plugin 'missing_plugin'" in str(xcore.record("orphan").error)
        boxed = str(xcore.record("boxed").error)
        assert "execution_mode 'sandboxed' is not supported by XCore" in boxed and "docs/migrating.md" in boxed
        assert "defines no class Plugin" in str(xcore.record("empty").error)
        assert xcore.record("base").source.version == "2.0.0"


def test_a_missing_plugin_directory_is_a_config_error(tmp_path: Path) -> None:
    host = Xcore(config={"plugins": {"directory": str(tmp_path / "nowhere")}}, discover=False)
    with pytest.raises(ConfigError, match=r"plugins\.directory: .*nowhere is not a directory"):
        host.prepare()
