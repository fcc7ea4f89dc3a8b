"""Names in ``plugins.enabled`` / ``disabled`` / ``settings`` that no installed plugin has.

A typo there is otherwise silent: ``enabled: [greeting]`` for the plugin ``greetings`` loads
nothing, and the config still looks valid. Each such name is a warning naming the key and the
closest installed name; with ``app.strict`` the host refuses to boot (a ``ConfigError``).
"""

from __future__ import annotations

from collections.abc import Collection

from xcore._config.models import PluginsConfig
from xcore._suggestions import did_you_mean, listing


def unknown_plugin_names(
    plugins: PluginsConfig, plugin_names: Collection[str], backend_names: Collection[str] = ()
) -> list[str]:
    """One message per unknown name. ``disabled`` may also name a service backend."""
    checks = (
        ("enabled", plugins.enabled or [], set(plugin_names)),
        ("disabled", plugins.disabled, set(plugin_names) | set(backend_names)),
        ("settings", list(plugins.settings), set(plugin_names)),
    )
    problems = []
    for key, names, known in checks:
        what = "plugin or service backend" if key == "disabled" else "plugin"
        for name in names:
            if name not in known:
                problems.append(
                    f"plugins.{key}: no installed {what} is named {name!r}.{did_you_mean(name, known)} "
                    f"Installed plugins: {listing(plugin_names)}"
                )
    return problems
