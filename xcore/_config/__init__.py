"""Configuration: ``integration.yaml`` with ``${VAR}`` expansion, validated with pydantic."""

from xcore._config.loader import LoadedConfig, load_config, validate
from xcore._config.models import EMBEDDED_DEFAULTS, AppConfig, PluginsConfig, ServicesConfig, XcoreConfig

__all__ = [
    "EMBEDDED_DEFAULTS",
    "AppConfig",
    "LoadedConfig",
    "PluginsConfig",
    "ServicesConfig",
    "XcoreConfig",
    "load_config",
    "validate",
]
