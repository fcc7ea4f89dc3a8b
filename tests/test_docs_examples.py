"""The code examples of docs/ run as shown: each is executed as a plugin in a real host."""

from __future__ import annotations

import re
import sys
import types
import uuid
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from tests.spec_support import blocks
from xcore.sdk import ActionNotFound, TrustedBase, action, ok

DOCS = Path(__file__).resolve().parent.parent / "docs"


def doc_module(doc: str, section: str) -> types.ModuleType:
    """The first Python block under heading ``section`` of ``docs/<doc>``, executed as a module."""
    found = [b for b in blocks((DOCS / doc).read_text()) if b.language == "python" and b.section == section]
    assert found, f"docs/{doc} has no python block under {section!r}"
    slug = re.sub(r"\W+", "_", section).lower()
    name = f"doc_example_{slug}_{uuid.uuid4().hex[:6]}"
    module = types.ModuleType(name)
    sys.modules[name] = module
    exec(compile("\n" * (found[0].line - 1) + found[0].code, str(DOCS / doc), "exec"), module.__dict__)
    return module


async def test_writing_a_plugin_anatomy(xcore_boot: Any) -> None:
    from xcore_example_users import Plugin as Users

    notes = doc_module("writing-a-plugin.md", "Anatomy")
    xcore = await xcore_boot(plugins={"users": Users, "notes": notes.Plugin}, config={
        "plugins": {"settings": {"notes": {"limit": 5}}}})  # fmt: skip
    assert xcore.plugin("notes").limit == 5
    assert await xcore.call("notes", "count", {}) == {"status": "ok", "count": 0}
    assert (await xcore.client.get("/plugins/notes/notes/1")).status_code == 404
    with xcore.get_service("db").session() as session:
        session.execute("INSERT INTO notes (id, text) VALUES (2, 'hello')")
        session.commit()
    assert (await xcore.client.get("/plugins/notes/notes/2")).json() == {"id": 2, "text": "hello"}
    assert (await xcore.health())["plugins"]["notes"]["status"] == "ok"


async def test_hooks_module_plugin(xcore_boot: Any) -> None:
    hello = doc_module("hooks.md", "A hook module, complete")
    xcore = await xcore_boot(plugins={"hello": hello})
    assert (await xcore.client.get("/plugins/hello/")).json() == {"hello": "hello"}
    assert await xcore.call("hello", "echo", {"a": 1}) == {"status": "ok", "echo": {"a": 1}}
    with pytest.raises(ActionNotFound, match="known actions: echo"):
        await xcore.call("hello", "nope", {})


async def test_hooks_register_service_example(xcore_boot: Any) -> None:
    greeter = doc_module("hooks.md", "`xcore_register_service()`")

    class UsesGreeter(TrustedBase):
        @action("hi")
        async def hi(self, payload: dict[str, Any]) -> dict[str, Any]:
            return ok(text=await self.get_service("ext.greeter").greet(payload["who"]))

    config = {"services": {"extensions": {"greeter": {"type": "greeter", "greeting": "Hi"}}}}
    xcore = await xcore_boot(plugins={"greeter-backend": greeter, "user": UsesGreeter}, config=config)
    assert await xcore.call("user", "hi", {"who": "Ada"}) == {"status": "ok", "text": "Hi, Ada!"}


def test_hooks_register_commands_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    commands = doc_module("hooks.md", "`xcore_register_commands(cli)`")
    config = tmp_path / "integration.yaml"
    config.write_text("plugins:\n  enabled: [users]\n")

    @click.group()
    def cli() -> None: ...

    commands.xcore_register_commands(cli=cli)
    result = CliRunner().invoke(cli, ["count-users", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "0"


async def test_readme_ten_line_plugin(xcore_boot: Any) -> None:
    readme = Path(__file__).resolve().parent.parent / "README.md"
    found = [b for b in blocks(readme.read_text()) if b.language == "python" and b.section == "A plugin in ten lines"]
    assert found, "README.md has no python block under 'A plugin in ten lines'"
    module = types.ModuleType(f"readme_hello_{uuid.uuid4().hex[:6]}")
    exec(compile(found[0].code, str(readme), "exec"), module.__dict__)
    xcore = await xcore_boot(plugins={"hello": module.Plugin})
    assert (await xcore.client.get("/plugins/hello/hello/world")).json() == {"hello": "World"}
    assert await xcore.get_service("cache").get("greeting:world") == "World"
    assert await xcore.call("hello", "ping", {"n": 1}) == {"status": "ok", "pong": {"n": 1}}


async def test_hooks_broadcast_wrapper_example(xcore_boot: Any) -> None:
    wrapper = doc_module("hooks.md", "Broadcast hooks")
    greeter = doc_module("hooks.md", "`xcore_register_service()`")
    config = {"services": {"extensions": {"greeter": {"type": "greeter", "greeting": "Hi"}}}}
    xcore = await xcore_boot(plugins={"timing": wrapper.Timing(), "greeter-backend": greeter}, config=config)
    assert await xcore.get_service("ext.greeter").greet("Ada") == "Hi, Ada!"
    assert xcore.host.records["timing"].error is None
