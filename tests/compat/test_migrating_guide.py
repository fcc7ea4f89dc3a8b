"""docs/migrating.md names every old spelling the config layer accepts or refuses, and the
embedded FastAPI example of docs/getting-started.md runs as shown."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import httpx
import pytest

from tests.spec_support import blocks
from xcore._config import legacy

ROOT = Path(__file__).resolve().parents[2]
GUIDE = (ROOT / "docs" / "migrating.md").read_text()


@pytest.mark.parametrize("rename", legacy.RENAMES, ids=lambda r: r.old)
def test_every_renamed_key_is_in_the_guide(rename: legacy.Rename) -> None:
    assert f"{rename.old}`" in GUIDE
    assert rename.new is None or f"{rename.new}`" in GUIDE
    assert rename.why in GUIDE


@pytest.mark.parametrize("path", sorted(legacy.UNSUPPORTED))
def test_every_refused_key_is_in_the_guide_with_its_reason(path: str) -> None:
    assert path.rsplit(".", 1)[-1] in GUIDE
    reason = legacy.UNSUPPORTED[path].split(":")[0].split("(")[0].strip()
    assert reason in GUIDE.replace("`", ""), f"the reason for {path} is not in docs/migrating.md"


def test_every_renamed_type_is_in_the_guide() -> None:
    for old, new in legacy.TYPE_RENAMES.items():
        assert f"type: {old}" in GUIDE and f"type: {new}" in GUIDE


def test_readme_says_original_plugins_run_here() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "Plugins written for the original XCore (`xcoreruntime`) run here unchanged" in readme
    assert "(docs/migrating.md)" in readme


async def test_getting_started_embedded_example_runs(tmp_path: Path) -> None:
    # the example reads ./integration.yaml: keep the plugins installed in this environment out
    (tmp_path / "integration.yaml").write_text("plugins:\n  enabled: []\n")
    doc = ROOT / "docs" / "getting-started.md"
    section = "5. Or run XCore inside your own FastAPI app"
    found = [b for b in blocks(doc.read_text()) if b.language == "python" and b.section == section]
    assert found, f"no python block under {section!r}"
    module = types.ModuleType("getting_started_embedded")
    sys.modules[module.__name__] = module
    try:
        exec(compile("\n" * (found[0].line - 1) + found[0].code, str(doc), "exec"), module.__dict__)
        app = module.app
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                assert (await client.get("/health")).json() == {"status": "ok"}
                assert (await client.get("/health/ready")).status_code == 200
                assert (await client.get("/")).json() == {"plugins": []}
    finally:
        sys.modules.pop(module.__name__, None)
