"""docs/services.md describes every setting of every built-in service type and every method plugins call.

A section per type is found by its heading naming the type (``#### `type: sqlite` ...``); each key of
that type's settings model must appear in it as `` `key` ``, each public method as ``name(``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from xcore._builtin_services.cache.base import Cache
from xcore._builtin_services.email.smtp import SmtpEmail
from xcore._builtin_services.scheduler.view import PluginScheduler
from xcore._builtin_services.sql import SqlDatabase
from xcore._builtin_services.sqlasync import AsyncSqlDatabase, SqliteConnection
from xcore._builtin_services.storage.base import Storage
from xcore._builtin_services.storage.s3 import S3Storage
from xcore._builtin_services.tasks.view import PluginTasks
from xcore._events.view import EventsView
from xcore._host.facade import Xcore
from xcore._services.container import SELECTOR
from xcore._services.types import ServiceType

DOC = Path(__file__).resolve().parent.parent / "docs" / "services.md"
BUILTIN = ("sql", "sqlasync", "redis", "cache", "events", "scheduler", "email", "storage", "tasks")
CHAPTER = {"database": "## Databases", "extension": "## Extensions", "cache": "## Cache", "events": "## Events",
           "scheduler": "## Scheduler", "tasks": "## Tasks"}  # fmt: skip
LIFECYCLE = {"start", "health", "close", "error", "for_plugin", "plugin_unloaded"}


def builtin_types() -> list[ServiceType]:
    host = Xcore(config={}, discover=False)
    host.prepare()
    return [r.type for r in host.service_types if r.provider in BUILTIN]


def section(heading_text: str, within: str | None = None) -> str:
    """The text under the heading containing ``heading_text`` (inside the section ``within``, if
    given), up to the next heading of its level or above."""
    text = section(within) if within is not None else DOC.read_text(encoding="utf-8")
    lines = text.splitlines()
    for index, line in enumerate(lines):
        match = re.match(r"^(#+) ", line)
        if match and heading_text in line:
            level = len(match.group(1))
            body = []
            for following in lines[index + 1 :]:
                other = re.match(r"^(#+) ", following)
                if other and len(other.group(1)) <= level:
                    break
                body.append(following)
            return "\n".join(body)
    raise AssertionError(f"docs/services.md has no heading containing {heading_text!r}")


TYPES = builtin_types()


def test_every_builtin_provider_registered_types() -> None:
    assert {t.kind for t in TYPES} == set(SELECTOR)


@pytest.mark.parametrize("service_type", TYPES, ids=lambda t: f"{t.kind}-{t.name}")
def test_every_setting_is_documented(service_type: ServiceType) -> None:
    text = section(f"`{SELECTOR[service_type.kind]}: {service_type.name}`", within=CHAPTER[service_type.kind])
    missing = [key for key in service_type.config.model_fields if f"`{key}`" not in text]
    assert not missing, f"{service_type.kind} {service_type.name!r}: settings not documented: {missing}"


API = {
    Cache: "## Cache",
    PluginScheduler: "## Scheduler",
    PluginTasks: "## Tasks",
    EventsView: "## Events",
    SmtpEmail: "`type: smtp`",
    Storage: "`type: local`",
    S3Storage: "`type: local`",
    SqlDatabase: "### Synchronous SQL",
    AsyncSqlDatabase: "### Asynchronous SQL",
    SqliteConnection: "### Asynchronous SQL",
}


@pytest.mark.parametrize("api", API, ids=lambda c: c.__name__)
def test_every_public_method_is_documented(api: type) -> None:
    text = section(API[api])
    names = [n for n, v in vars(api).items() if not n.startswith("_") and n not in LIFECYCLE and callable(v)]
    properties = [n for n, v in vars(api).items() if not n.startswith("_") and isinstance(v, property)]
    missing = [n for n in names if f"{n}(" not in text] + [p for p in properties if f".{p}" not in text]
    assert not missing, f"{api.__name__}: not documented in docs/services.md: {missing}"
