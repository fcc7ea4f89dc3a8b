"""Service sections for tests and benchmarks that boot a host with only the services they name.

A host given no ``services`` section builds the embedded defaults (a SQLite file, memory cache,
scheduler and events, local storage under ``./.xcore``). A test of one service, or a benchmark of the
host's own cost, wants none of that: :func:`no_services` gives the ``services`` section that turns
every service off, with the sections a caller names put back::

    Xcore(config={"services": no_services()}, plugins=..., discover=False)
    Xcore(config={"services": no_services(cache={"backend": "redis", "url": url})}, discover=False)
"""

from __future__ import annotations

from typing import Any

SECTIONS = ("databases", "cache", "events", "tasks", "scheduler", "extensions")
"""The sections of ``services``, in build order."""


def no_services(**sections: Any) -> dict[str, Any]:
    """A ``services`` section with every service off except ``sections`` (given as written in YAML).

    ``databases`` and ``extensions`` are empty mappings, ``cache``, ``events``, ``tasks`` and ``scheduler`` say
    ``enabled: false``. Each call returns a new dict, so a caller may change it freely. An unknown
    section name raises ``TypeError`` here rather than a config error at boot.
    """
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        raise TypeError(f"no_services() got unknown section(s) {', '.join(unknown)}; known: {', '.join(SECTIONS)}")
    services: dict[str, Any] = {
        "databases": {},
        "cache": {"enabled": False},
        "events": {"enabled": False},
        "tasks": {"enabled": False},
        "scheduler": {"enabled": False},
        "extensions": {},
    }
    services.update(sections)
    return services


__all__ = ["SECTIONS", "no_services"]
