"""The original XCore's configuration spellings, rewritten to XCore's before validation.

A key is rewritten only where it means the same thing here; each rewrite is logged once per
process, naming the old key and the new one, so a migrating config boots and its owner learns the
new spelling. Keys of the original that have no equivalent are refused by validation as any unknown
key is (``docs/migrating.md`` explains each); ``module:`` gets its own explanation because its
error would otherwise read as a typo. The table here is the whole list: the guide is tested
against it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from xcore._errors import ConfigError

log = logging.getLogger("xcore.config")


@dataclass(frozen=True)
class Rename:
    """``section.old`` is written ``section.new`` in XCore (``new=None``: the key goes away)."""

    section: str
    old: str
    new: str | None
    why: str
    applies: Callable[[Mapping[str, Any]], bool] = lambda settings: True
    convert: Callable[[Any], Any] = lambda value: value


def _of_type(*names: str) -> Callable[[Mapping[str, Any]], bool]:
    return lambda settings: settings.get("type") in names


def _strip_colon(value: Any) -> Any:
    # The original prefixed keys with the prefix as written ("cache:"); XCore adds the ":" itself.
    return value[:-1] if isinstance(value, str) and value.endswith(":") and len(value) > 1 else value


RENAMES: tuple[Rename, ...] = (
    Rename(
        "services.cache",
        "prefix",
        "key_prefix",
        "it names the app part of the cache's own namespace",
        convert=_strip_colon,
    ),
    Rename(
        "services.extensions.<name>",
        "from_address",
        "sender",
        "the smtp type's name for the From address",
        _of_type("smtp"),
    ),
    Rename(
        "services.extensions.<name>", "access_key", "access_key_id", "boto3's name, as AWS documents it", _of_type("s3")
    ),
    Rename(
        "services.extensions.<name>",
        "secret_key",
        "secret_access_key",
        "boto3's name, as AWS documents it",
        _of_type("s3"),
    ),
    Rename(
        "services.databases.<name>",
        "socket_connect_timeout",
        "connect_timeout",
        "redis-py's argument, shortened",
        _of_type("redis"),
    ),
    Rename(
        "services.databases.<name>",
        "pool_pre_ping",
        None,
        "XCore always checks a pooled connection before handing it out",
        _of_type("postgresql", "sqlite", "mysql", "sqlasync"),
    ),
)
"""Keys renamed inside a section."""

TYPE_RENAMES: dict[str, str] = {"postgresql+aio": "sqlasync"}
"""``services.databases.<name>.type`` values of the original and the XCore type meaning the same."""

UNSUPPORTED: dict[str, str] = {
    "app.debug": "XCore has no debug mode: errors are logged with their traceback, and app.log_level: DEBUG logs more",
    "app.dotenv": "XCore reads the .env file beside the config file",
    "app.plugin_tags": "each plugin's routes are tagged with the plugin's name",
    "plugins.secret_key": "XCore does not sign plugins: a plugin is a package you install (pin it, or use pip's "
    "--require-hashes)",
    "plugins.strict_trusted": "XCore does not sign plugins: every installed plugin runs in process",
    "plugins.interval": "XCore has no hot reload: restart (or `xcore serve --reload` in development)",
    "plugins.snapshot": "XCore has no hot reload: restart (or `xcore serve --reload` in development)",
    "plugins.entry_point": "a plugin folder's plugin.yaml names its own entry_point (default src/main.py)",
    "observability": "XCore logs through Python's logging (configure handlers in your app); no built-in metrics",
    "security": "XCore runs no sandboxed plugins, so it has no import allow-lists or rate limits",
}
"""Keys of the original XCore that XCore refuses with the reason (rather than as a misspelt key)."""

_warned: set[str] = set()


def _warn_once(old_path: str, message: str) -> None:
    if old_path in _warned:
        return
    _warned.add(old_path)
    log.warning("%s (docs/migrating.md)", message)


def upgrade(data: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the expanded config with the original XCore's spellings rewritten to XCore's."""
    result = dict(data)
    refused = [path for path in UNSUPPORTED if _has(result, path)]
    if refused:
        raise ConfigError(
            "; ".join(
                f"{path}: the original XCore's setting, not supported: {UNSUPPORTED[path]} "
                "(remove it; see docs/migrating.md)"
                for path in refused
            )
        )
    services = result.get("services")
    if not isinstance(services, Mapping):
        return result
    services = result["services"] = dict(services)
    for single in ("cache", "scheduler", "events"):
        if isinstance(services.get(single), Mapping):
            services[single] = _rewrite(f"services.{single}", f"services.{single}", services[single])
    for group in ("databases", "extensions"):
        if not isinstance(services.get(group), Mapping):
            continue
        services[group] = {
            name: _rewrite(f"services.{group}.<name>", f"services.{group}.{name}", settings)
            if isinstance(settings, Mapping)
            else settings
            for name, settings in services[group].items()
        }
    return result


def _has(tree: Mapping[str, Any], path: str) -> bool:
    section, _, key = path.partition(".")
    if not key:
        return section in tree
    value = tree.get(section)
    return isinstance(value, Mapping) and key in value


def _rewrite(pattern: str, path: str, section: Mapping[str, Any]) -> dict[str, Any]:
    settings = dict(section)
    if "module" in settings:
        raise ConfigError(
            f"{path}.module: the original XCore loaded a service class from a module; in XCore a service type "
            "comes from an installed package that registers it (xcore_register_service, see "
            "docs/writing-a-service-backend.md), named here by `type:` (and optionally `package:`). "
            "See docs/migrating.md"
        )
    if pattern == "services.databases.<name>" and settings.get("type") in TYPE_RENAMES:
        old_type = settings["type"]
        settings["type"] = TYPE_RENAMES[old_type]
        _warn_once(
            f"{path}.type={old_type}",
            f"{path}.type: {old_type!r} is the original XCore's name of the "
            f"{settings['type']!r} type; it is accepted, write "
            f"type: {settings['type']}",
        )
    for rename in RENAMES:
        if rename.section != pattern or rename.old not in settings or not rename.applies(settings):
            continue
        value = settings.pop(rename.old)
        old_path = f"{path}.{rename.old}"
        if rename.new is None:
            _warn_once(
                old_path,
                f"{old_path} is the original XCore's setting and is not needed: {rename.why}; it is ignored, remove it",
            )
            continue
        if rename.new in settings:
            raise ConfigError(
                f"{old_path} and {path}.{rename.new} are both set: {rename.old} is the original "
                f"XCore's spelling of {rename.new}; keep only {rename.new}"
            )
        settings[rename.new] = rename.convert(value)
        _warn_once(
            old_path,
            f"{old_path} is the original XCore's spelling of {path}.{rename.new} "
            f"({rename.why}); it is accepted, rename it",
        )
    return settings


__all__ = ["RENAMES", "TYPE_RENAMES", "UNSUPPORTED", "Rename", "upgrade"]
