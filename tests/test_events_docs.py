"""docs/events.md: its complete plugin example runs as written, its configuration examples validate."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from xcore import Xcore
from xcore._builtin_services.events import xcore_register_service
from xcore._config.expand import expand

DOC = Path(__file__).resolve().parent.parent / "docs" / "events.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)


async def test_the_first_example_runs_in_a_host() -> None:
    namespace: dict[str, Any] = {}
    exec(compile(blocks("python")[0], str(DOC), "exec"), namespace)
    host = Xcore(
        config={"services": {"databases": {}, "extensions": {}, "scheduler": {"enabled": False}}},
        plugins={"accounts": namespace["Accounts"], "mailer": namespace["Mailer"]},
        discover=False,
    )
    await host.boot()
    try:
        response = await host.call("accounts", "create_user", {"email": "ada@example.com"})
        assert response["status"] == "ok" and response["notified"] == ["mailer"]
        mailer = next(r.handle.instance for r in host.plugins if r.name == "mailer" and r.handle is not None)
        assert mailer.outbox == ["Welcome, ada@example.com! (from accounts)"]
        await host.get_service("events").emit("user.deleted", {"email": "ada@example.com"}, source="accounts")
        assert mailer.outbox[-1] == "Goodbye, ada@example.com"
    finally:
        await host.shutdown()


def test_the_configuration_examples_validate() -> None:
    types = {t.name: t for t in xcore_register_service()}
    examples = [yaml.safe_load(text) for text in blocks("yaml")]
    assert len(examples) == 2
    for example in examples:
        section = dict(expand(example["services"]["events"], {"REDIS_URL": "redis://127.0.0.1:6379/0"}))
        backend = section.pop("backend")
        types[backend].config.model_validate(section)
