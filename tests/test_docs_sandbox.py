"""docs/security.md: the sandboxed-plugins example is a valid configuration, and the tables name
every protection a worker reports."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from xcore._config.loader import load_config
from xcore._sandbox.confine import PROTECTIONS
from xcore._sandbox.settings import PERMISSION_KINDS, Limits

DOC = Path(__file__).resolve().parent.parent / "docs" / "security.md"


def sandbox_section() -> str:
    text = DOC.read_text()
    start = text.index("## Sandboxed plugins")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_the_example_config_validates() -> None:
    block = re.search(r"```yaml\n(.*?)```", sandbox_section(), re.S)
    assert block is not None
    loaded = load_config(data=yaml.safe_load(block.group(1)), env={})
    reports = loaded.config.plugins.sandboxed["reports"]
    assert reports.permissions.describe() == [
        "db:default:read",
        "cache",
        "events:emit=reports.*;subscribe=users.created",
        "storage:storage:reports/",
        "network:api.example.com:443",
        "plugins:call=billing.*",
    ]
    assert (
        reports.limits.memory_mb == 256
        and reports.limits.transactions == 4
        and reports.sandbox.require == ["network", "filesystem"]
    )


def test_every_reported_protection_is_documented() -> None:
    section = sandbox_section()
    for name in PROTECTIONS:
        assert f"`{name}`" in section, f"docs/security.md does not describe the protection {name!r}"


def test_every_permission_and_limit_is_documented() -> None:
    section = sandbox_section()
    table = section[section.index("### Permissions") :]
    for kind in PERMISSION_KINDS:
        assert f"| `{kind}" in table, f"docs/security.md's permissions table does not describe {kind!r}"
    for limit in Limits.model_fields:
        assert f"`{limit}`" in table, f"docs/security.md does not describe the limit {limit!r}"
