"""Key namespaces: the part of a shared store (one Redis database) that each service owns.

Every service is handed ``ServiceSetup.namespace``, ``"<app>:<service>:"`` (``shop:cache:``,
``shop:scheduler:``, ``shop:events:``, ``shop:redis_db:``, ``shop:ext.ratelimit:``), and keeps every
key it writes (its locks included) under it. Both parts are escaped so that no ``:`` can appear inside
one (``%`` becomes ``%25``, ``:`` becomes ``%3A``): two namespaces are then never prefixes of each
other, whatever the application and service names, so a service that deletes by pattern inside its
own namespace can never reach another service's keys, nor another application's.
"""

from __future__ import annotations

SEPARATOR = ":"


def namespace_part(text: str) -> str:
    """``text`` with ``%`` and ``:`` escaped, so it holds no separator (an app or service name)."""
    return text.replace("%", "%25").replace(SEPARATOR, "%3A")


def service_namespace(app: str, service: str) -> str:
    """The namespace of service ``service`` of application ``app``: ``"<app>:<service>:"``, escaped."""
    return f"{namespace_part(app)}{SEPARATOR}{namespace_part(service)}{SEPARATOR}"


__all__ = ["SEPARATOR", "namespace_part", "service_namespace"]
