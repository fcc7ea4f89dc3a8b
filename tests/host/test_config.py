"""Config errors: one paragraph naming the key path, the variable, the type or the known values."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from xcore import Xcore
from xcore._config import load_config
from xcore._errors import ConfigError
from xcore._redaction import MASK, redact

from .support import Site, config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "integration.yaml"
    path.write_text(text)
    return path


def test_variables_expand_with_defaults_anywhere_in_a_value(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
app:
  name: "${APP_NAME:-shop}"
plugins:
  settings:
    users: {dsn: "postgresql://u:${PW}@db:${PORT:-5432}/x", literal: "$${NOT_EXPANDED}"}
""",
    )
    loaded = load_config(path, env={"PW": "s3cret"})
    assert loaded.config.app.name == "shop"
    assert loaded.config.plugins.settings["users"] == {
        "dsn": "postgresql://u:s3cret@db:5432/x",
        "literal": "${NOT_EXPANDED}",
    }


def test_missing_variable_names_the_variable_and_the_key_path(tmp_path: Path) -> None:
    path = write(
        tmp_path, "services:\n  databases:\n    default:\n      type: postgresql\n      url: ${DATABASE_URL}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert "DATABASE_URL is not set" in str(info.value)
    assert "services.databases.default.url" in str(info.value)
    assert str(path) in str(info.value)


def test_dotenv_beside_the_config_supplies_variables_and_the_environment_wins(tmp_path: Path) -> None:
    path = write(tmp_path, "app:\n  name: ${APP_NAME}\n  log_level: ${LEVEL}\n")
    (tmp_path / ".env").write_text("APP_NAME=from-dotenv\nLEVEL=DEBUG\n")
    loaded = load_config(path, env={"LEVEL": "WARNING"})
    assert (loaded.config.app.name, loaded.config.app.log_level) == ("from-dotenv", "WARNING")


def test_unknown_key_suggests_the_closest_valid_key() -> None:
    with pytest.raises(ConfigError, match=r"app\.load_timout: unknown key; did you mean 'load_timeout'\?"):
        load_config(data={"app": {"load_timout": 3}}, env={})


def test_wrong_type_names_the_key_and_the_value() -> None:
    with pytest.raises(ConfigError, match=r"app\.health_timeout: .*number.*'soon'"):
        load_config(data={"app": {"health_timeout": "soon"}}, env={})


def test_not_yaml_and_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "app: [unclosed\n"), env={})
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(write(tmp_path, "- a\n- b\n"), env={})


def test_named_config_file_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_local_plugin_must_be_module_colon_attr() -> None:
    with pytest.raises(ConfigError, match=r"plugins\.local\.dev: 'just_a_module' must be written 'module:attribute'"):
        load_config(data={"plugins": {"local": {"dev": "just_a_module"}}}, env={})


BACKEND = """
from pydantic import Field
from xcore import hookimpl
from xcore._services import ServiceBase, ServiceSettings, ServiceType

class Settings(ServiceSettings):
    port: int = 25
    host: str = "localhost"

class Service(ServiceBase):
    def __init__(self, settings, setup):
        self.settings = settings

@hookimpl
def xcore_register_service():
    return [ServiceType(kind="extension", name="pager", config=Settings, factory=Service)]
"""


async def test_unknown_service_type_lists_known_types_and_their_distributions(site: Site) -> None:
    site.plugin("pager", BACKEND, dist="acme-pager", group="xcore.services", attr="")
    host = Xcore(config=config(services={"extensions": {"alerts": {"type": "pagr"}}}), discover=False)
    with pytest.raises(ConfigError) as info:
        await host.boot()
    message = str(info.value)
    assert "services.extensions.alerts: unknown extension type 'pagr'" in message
    assert "Did you mean 'pager'?" in message
    assert "pager (from acme-pager)" in message


async def test_service_settings_are_validated_by_the_type_and_coerced(site: Site) -> None:
    site.plugin("pager", BACKEND, dist="acme-pager", group="xcore.services", attr="")
    host = Xcore(config=config(services={"extensions": {"alerts": {"type": "pager", "port": "2525"}}}), discover=False)
    await host.boot()
    try:
        assert host.get_service("ext.alerts").settings.port == 2525
    finally:
        await host.shutdown()
    bad = Xcore(config=config(services={"extensions": {"alerts": {"type": "pager", "prot": 1}}}), discover=False)
    with pytest.raises(ConfigError, match=r"services\.extensions\.alerts\.prot: unknown key"):
        await bad.boot()
    worse = Xcore(config=config(services={"extensions": {"alerts": {"type": "pager", "port": "many"}}}), discover=False)
    with pytest.raises(ConfigError, match=r"services\.extensions\.alerts\.port: .*integer.*'many'"):
        await worse.boot()


async def test_a_section_without_its_type_names_the_missing_key() -> None:
    host = Xcore(config=config(services={"extensions": {"alerts": {"port": 1}}}), discover=False)
    with pytest.raises(ConfigError, match=r"services\.extensions\.alerts\.type: required key is missing"):
        await host.boot()


def test_redact_masks_secret_keys_and_url_passwords() -> None:
    tree = {
        "url": "postgresql://app:hunter2@db/x",
        "password": "pw",
        "api_key": "k",
        "user": "app",
        "nested": [{"token": "t"}],
    }
    assert redact(tree) == {
        "url": f"postgresql://app:{MASK}@db/x",
        "password": MASK,
        "api_key": MASK,
        "user": "app",
        "nested": [{"token": MASK}],
    }


async def test_secrets_of_the_config_never_reach_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    host = Xcore(config=config(plugins={"settings": {"p": {"password": "topsecret-value"}}}), discover=False)
    await host.boot()
    try:
        with caplog.at_level(logging.INFO):
            logging.getLogger("somelib").info("connecting with topsecret-value to redis://u:pw123@h/0")
        assert "topsecret-value" not in caplog.text and "pw123" not in caplog.text
        assert MASK in caplog.text
    finally:
        await host.shutdown()


def test_a_rejected_value_is_quoted_with_its_secrets_masked() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(data={"app": {"api_key": 42, "health_timeout": "http://u:pw-in-url@h/"}}, env={})
    assert "pw-in-url" not in str(info.value) and "u:***@h" in str(info.value)


async def test_a_missing_type_names_the_package_the_config_expects_to_provide_it() -> None:
    host = Xcore(
        config=config(services={"extensions": {"files": {"type": "gcs", "package": "xcore-gcs"}}}), discover=False
    )
    with pytest.raises(ConfigError) as info:
        await host.boot()
    assert str(info.value) == (
        "services.extensions.files: extension type 'gcs' comes from the package 'xcore-gcs' "
        "(services.extensions.files.package), which is not installed or is disabled: pip install xcore-gcs"
    )


def test_a_default_may_itself_use_variables() -> None:
    loaded = load_config(data={"app": {"name": "${APP:-shop-${REGION:-eu}}"}}, env={"REGION": "us"})
    assert loaded.config.app.name == "shop-us"


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("${NAME", "app.name: ${NAME has no closing brace"),
        ("${NAME:-${OTHER}", "app.name: ${NAME:-... has no closing brace"),
        ("${9LIVES}", "app.name: '${9LIVES}' is not a variable reference"),
    ],
)
def test_a_malformed_reference_is_an_error_naming_the_key(value: str, says: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(says)):
        load_config(data={"app": {"name": value}}, env={"NAME": "x", "OTHER": "y"})
