"""docs/security.md states what the code does: the masked spellings and the configuration limits."""

from __future__ import annotations

import re
from pathlib import Path

from xcore._config import limits
from xcore._redaction import MASK, is_secret_key, redact_text

DOC = (Path(__file__).resolve().parent.parent / "docs" / "security.md").read_text()


def table_row(first_cell: str) -> str:
    rows = [line for line in DOC.splitlines() if line.startswith(f"| {first_cell} |")]
    assert len(rows) == 1, f"docs/security.md has no single table row starting with {first_cell!r}"
    return rows[0]


def test_every_secret_key_listed_is_one() -> None:
    keys = re.findall(r"`(\w+)`", table_row("a value under a secret-looking key of the configuration").split("|")[2])
    assert len(keys) >= 10
    assert [k for k in keys if not is_secret_key(k)] == []


def test_every_credential_parameter_listed_is_masked() -> None:
    names = re.findall(r"`\?([\w-]+)=`", table_row("a credential query parameter of a URL"))
    assert len(names) >= 15
    for name in names:
        for spelling in (name, name.upper()):
            assert redact_text(f"x://h/?db=0&{spelling}=s3cret") == f"x://h/?db=0&{spelling}={MASK}", spelling


def test_the_limits_table_gives_the_limits_of_the_code() -> None:
    assert f"{limits.MAX_CONFIG_BYTES:,} bytes" in table_row("file size")
    assert f"{limits.MAX_DEPTH} levels" in table_row("nesting of mappings and lists")
    assert f"{limits.MAX_VALUES:,}" in table_row("values once YAML aliases are expanded")
    assert f"{limits.MAX_DEFAULT_NESTING} levels" in table_row("nesting of variable defaults in one string")
