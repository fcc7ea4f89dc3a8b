"""``xcore config check`` rejects what boot rejects, reports every bad section, and shows the defaults
it takes from other sections (the spec's scheduler block names no Redis ``url``)."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from xcore import Xcore
from xcore._cli import cli
from xcore._errors import ConfigError
from xcore.testing.configs import no_services

CACHE_URL = "redis://:cache-pw@127.0.0.1:6390/0"
DB_URL = "redis://:db-pw@127.0.0.1:6391/2"


def check(tmp_path: Path, services: dict[str, Any], env: dict[str, str] | None = None) -> Result:
    path = tmp_path / "integration.yaml"
    path.write_text(yaml.safe_dump({"services": services}, sort_keys=False))
    return CliRunner().invoke(cli, ["config", "check", "--config", str(path)], env=env)


def resolved(result: Result) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(result.stdout)
    return loaded


SPEC_SCHEDULER = {"enabled": True, "backend": "redis", "timezone": "Europe/Paris"}  # the spec's block, verbatim


def test_a_redis_scheduler_without_url_uses_the_cache_redis_and_says_so(tmp_path: Path) -> None:
    result = check(tmp_path, no_services(
        cache={"backend": "redis", "url": "${REDIS_URL}", "ttl": 300, "max_size": 10000},
        databases={"redis_db": {"type": "redis", "url": DB_URL}}, scheduler=SPEC_SCHEDULER,
    ), env={"REDIS_URL": CACHE_URL})  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "# services.scheduler.url is not set: using the Redis of services.cache.url " in result.stdout
    assert resolved(result)["services"]["scheduler"]["url"] == "redis://:***@127.0.0.1:6390/0"
    assert "cache-pw" not in result.output and "db-pw" not in result.output


def test_without_a_redis_cache_the_first_redis_database_is_used(tmp_path: Path) -> None:
    result = check(tmp_path, no_services(
        cache={"backend": "memory"}, scheduler=SPEC_SCHEDULER,
        databases={"main": {"type": "sqlite"}, "redis_db": {"type": "redis", "url": DB_URL},
                   "other": {"type": "redis", "url": CACHE_URL}},
    ))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "using the Redis of services.databases.redis_db.url (redis://:***@127.0.0.1:6391/2)" in result.stdout
    assert resolved(result)["services"]["scheduler"]["url"] == "redis://:***@127.0.0.1:6391/2"


def test_an_explicit_url_wins_and_no_redis_at_all_is_an_error_naming_the_key(tmp_path: Path) -> None:
    own = check(tmp_path, no_services(cache={"backend": "redis", "url": CACHE_URL},
                                      scheduler={**SPEC_SCHEDULER, "url": DB_URL}))  # fmt: skip
    assert own.exit_code == 0 and "is not set" not in own.stdout
    assert resolved(own)["services"]["scheduler"]["url"] == "redis://:***@127.0.0.1:6391/2"
    none = check(tmp_path, no_services(cache={"backend": "memory"}, scheduler=SPEC_SCHEDULER))
    assert none.exit_code == 2
    assert none.stderr.strip() == (
        "error: configuration: services.scheduler.url: required key is missing (no Redis is named elsewhere in "
        "the configuration: neither the cache nor a type: redis database)"
    )


async def test_boot_logs_which_redis_the_scheduler_uses(redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    host = Xcore(config={"app": {"health_interval": 0}, "services": no_services(
        cache={"backend": "redis", "url": redis_url}, scheduler=SPEC_SCHEDULER)}, discover=False)  # fmt: skip
    with caplog.at_level(logging.INFO, logger="xcore.service.scheduler"):
        await host.boot()
    try:
        assert f"services.scheduler.url is not set: using the Redis of services.cache.url ({redis_url})" in caplog.text
        assert host.get_service("scheduler").store.url == redis_url
        assert (await host.health())["services"]["scheduler"]["status"] == "ok"
    finally:
        await host.shutdown()


def test_the_email_sender_defaults_to_the_login_or_is_refused_at_load(tmp_path: Path) -> None:
    spec_email = {
        "type": "smtp",
        "host": "${SMTP_HOST}",
        "port": "${SMTP_PORT}",
        "user": "${SMTP_USER}",
        "password": "${SMTP_PASSWORD}",
        "tls": True,
    }  # the spec's block, verbatim
    env = {"SMTP_HOST": "mail.test", "SMTP_PORT": "587", "SMTP_PASSWORD": "smtp-pw"}
    good = check(tmp_path, no_services(extensions={"email": spec_email}), {**env, "SMTP_USER": "app@mail.test"})
    assert good.exit_code == 0, good.output
    assert resolved(good)["services"]["extensions"]["email"]["sender"] == "app@mail.test"
    bad = check(tmp_path, no_services(extensions={"email": spec_email}), {**env, "SMTP_USER": "apikey"})
    assert bad.exit_code == 2
    assert bad.stderr.startswith("error: configuration: services.extensions.email.sender: Value error, required: "
                                 "the login user ('apikey') is not an email address")  # fmt: skip
    assert "smtp-pw" not in bad.output


async def test_config_check_rejects_what_boot_rejects_with_the_same_error(tmp_path: Path) -> None:
    services = no_services(databases={"async_default": {"type": "sqlasync", "url": "mysql+aiomysql://u:db-pw@h/app"}})
    result = check(tmp_path, services)
    assert result.exit_code == 2, result.output
    with pytest.raises(ConfigError) as booted:
        await Xcore(config={"services": services}, discover=False).boot()
    assert result.stderr == f"error: {booted.value}\n"
    assert "services.databases.async_default.url: Value error, unknown database driver 'mysql+aiomysql' " in (
        result.stderr
    )
    assert "db-pw" not in result.stderr


def test_every_bad_section_is_reported_in_one_run(tmp_path: Path) -> None:
    result = check(tmp_path, no_services(
        databases={"async_default": {"type": "sqlasync", "url": "mysql+aiomysql://u:p@h/app"},
                   "main": {"type": "postgresq", "url": "postgresql://h/app"},
                   "fine": {"type": "sqlite"}, "blank": {"url": "sqlite://"}},
        cache={"backend": "redis"},
        scheduler={"backend": "redis", "timezone": "Mars/Olympus"},
        extensions={"email": {"type": "smtp", "user": "apikey"}},
    ))  # fmt: skip
    assert result.exit_code == 2
    lines = result.stderr.removeprefix("error: ").splitlines()
    assert [re.search(r"services\.[\w.]+", line).group() for line in lines] == [  # type: ignore[union-attr]
        "services.databases.blank.type",
        "services.databases.async_default.url",
        "services.databases.main",
        "services.cache.url",
        "services.scheduler.timezone",
        "services.extensions.email.sender",
    ]


@pytest.mark.parametrize(
    ("services", "error"),
    [
        (no_services(databases={"main": {"type": "postgresql", "url": "mysql+aiomysql://u:db-pw@h/app"}}),
         "services.databases.main.url: Value error, 'mysql+aiomysql' is an async driver"),
        (no_services(databases={"main": {"type": "sql", "url": "nosuchdb://h/app"}}),
         "services.databases.main.url: Value error, unknown database driver 'nosuchdb'"),
        (no_services(databases={"main": {"type": "mysql", "url": "mysql+mysqldb://h/app"}}),
         "services.databases.main.url: Value error, the driver for 'mysql+mysqldb' is not installed"),
        (no_services(cache={"backend": "redis", "url": "redis://:db-pw@h:notaport/0"}),
         "services.cache.url: Value error, is not a usable Redis URL"),
        (no_services(databases={"r": {"type": "redis", "url": "http://h:6379"}}),
         "services.databases.r.url: Value error, must start with one of redis://, rediss://, unix://"),
        (no_services(scheduler={"backend": "memory", "jobs": [{"func": "no_such_module_xyz:run", "trigger": "date"}]}),
         "services.scheduler.jobs: Value error, entry 0 (no_such_module_xyz:run): "),
        (no_services(scheduler={"backend": "memory", "jobs": [{"func": "os:getcwd", "trigger": "cron", "hour": 99}]}),
         "services.scheduler.jobs: Value error, entry 0 (os:getcwd): "),
        (no_services(databases={"d": {"type": "sqlite"}}, scheduler={"backend": "database", "database": "reports"}),
         "services.scheduler.database: Value error, no database named 'reports'"),
    ],
)  # fmt: skip
async def test_config_check_fails_every_section_boot_fails(
    tmp_path: Path, services: dict[str, Any], error: str
) -> None:
    """Each of these passed ``config check`` and failed the boot; now both fail, with the same text."""
    result = check(tmp_path, services)
    assert result.exit_code == 2, result.output
    assert error in result.stderr and "db-pw" not in result.stderr
    with pytest.raises(ConfigError) as booted:
        await Xcore(config={"services": services}, discover=False).boot()
    assert result.stderr == f"error: {booted.value}\n"


async def test_redis_events_without_url_use_the_configured_redis_too(redis_url: str, tmp_path: Path) -> None:
    services = no_services(cache={"backend": "memory"}, events={"backend": "redis"},
                           databases={"redis_db": {"type": "redis", "url": redis_url}})  # fmt: skip
    result = check(tmp_path, services)
    assert result.exit_code == 0, result.output
    assert "# services.events.url is not set: using the Redis of services.databases.redis_db.url" in result.stdout
    host = Xcore(config={"app": {"health_interval": 0}, "services": services}, discover=False)
    await host.boot()
    try:
        assert (await host.health())["services"]["events"]["channel"] == "xcore:events:bus"
    finally:
        await host.shutdown()


def test_secret_fields_repeated_under_other_keys_are_masked(tmp_path: Path) -> None:
    """Secret fields are masked by their models; where the file repeats their values elsewhere
    (plugin settings, a note), those copies are masked too."""
    email = {"type": "smtp", "host": "127.0.0.1", "user": "app@example.org", "password": "mail-Secret-44"}
    config = {
        "app": {"secret_key": "signing-Secret-42", "api_key": "api-Secret-43", "admin_key": "admin-Secret-46"},
        "plugins": {
            "settings": {
                "shop": {
                    "note1": "signing-Secret-42",
                    "note2": "api-Secret-43",
                    "note3": "mail-Secret-44",
                    "note4": "admin-Secret-46",
                }
            }
        },
        "services": {"extensions": {"email": email}},
    }
    path = tmp_path / "integration.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    result = CliRunner().invoke(cli, ["config", "check", "--config", str(path)])
    assert result.exit_code == 0, result.output
    for secret in ("signing-Secret-42", "api-Secret-43", "mail-Secret-44", "admin-Secret-46"):
        assert secret not in result.output
    assert resolved(result)["plugins"]["settings"]["shop"]["note1"] != "signing-Secret-42"
