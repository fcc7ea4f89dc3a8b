"""docs/security.md states the promises to an anonymous client, with the settings that govern them."""

from __future__ import annotations

from pathlib import Path

import pytest

from xcore._config.models import AppConfig
from xcore._http_guard import BodyTooLarge
from xcore._validation_errors import EXCERPT_CHARS, MAX_ERRORS
from xcore._watchdog import EXIT_STATUS, GRACE

DOC = Path(__file__).resolve().parent.parent / "docs" / "security.md"


def section() -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("## What the host promises an anonymous client")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


@pytest.mark.parametrize(("key", "shown"), [
    ("max_body_size", "`1048576` (1 MiB)"), ("health_cache_ttl", "(default `1`"),
    ("error_log_interval", "(default `10`)"),
])  # fmt: skip
def test_each_limit_is_documented_with_its_default(key: str, shown: str) -> None:
    assert f"`app.{key}`" in section() and shown in section()
    default = AppConfig.model_fields[key].default
    assert str(int(default)) in shown


def test_the_numbers_in_the_text_are_the_code_s() -> None:
    text = section()
    assert f"at most {EXCERPT_CHARS} characters" in text and f"at most {MAX_ERRORS} errors" in text
    assert f"exit status {EXIT_STATUS}" in text and f"{'one second' if GRACE == 1 else GRACE} after" in text
    assert BodyTooLarge(1048576).detail in text
