"""docs/hooks.md documents exactly the hooks of xcore/_hookspecs.py, each with its signature and summary."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from xcore import _hookspecs as hookspecs

DOC = Path(__file__).resolve().parent.parent / "docs" / "hooks.md"
HEADING = re.compile(r"^### `(xcore_\w+)\((.*)\)`$", re.MULTILINE)

SPECS = {
    name: func
    for name, func in vars(hookspecs).items()
    if name.startswith("xcore_") and getattr(func, f"{hookspecs.PROJECT_NAME}_spec", None) is not None
}


def sections() -> dict[str, tuple[str, str]]:
    """``{hook: (argument list, section text)}`` from the ``### `xcore_x(args)` `` headings."""
    text = DOC.read_text(encoding="utf-8")
    found = list(HEADING.finditer(text))
    result = {}
    for match, following in zip(found, [*found[1:], None], strict=True):
        end = following.start() if following is not None else len(text)
        result[match.group(1)] = (match.group(2), text[match.end() : end])
    return result


def test_the_hookspec_module_declares_hooks() -> None:
    assert len(SPECS) >= 9


@pytest.mark.parametrize("name", sorted(SPECS))
def test_each_hook_is_documented_with_its_arguments_and_summary(name: str) -> None:
    documented = sections()
    assert name in documented, f"docs/hooks.md has no '### `{name}(...)`' section"
    arguments, body = documented[name]
    assert arguments == ", ".join(inspect.signature(SPECS[name]).parameters), f"{name}: arguments differ"
    summary = inspect.getdoc(SPECS[name]).splitlines()[0]
    assert summary in body, f"{name}: the section does not quote the hookspec's first line {summary!r}"


def test_no_documented_hook_is_missing_from_the_hookspecs() -> None:
    unknown = set(sections()) - set(SPECS)
    assert not unknown, f"docs/hooks.md documents hooks that hookspecs.py does not declare: {sorted(unknown)}"
