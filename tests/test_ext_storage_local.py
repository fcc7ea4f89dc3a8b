"""``type: local`` storage: what the conformance suite cannot check generically.

The root is a fence (symlinks out of it are refused), writes are atomic even when the process dies
mid-write, leftovers of crashed uploads are hidden and swept, and settings errors are clear.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from xcore.builtin_services.storage import LocalStorage, LocalStorageSettings, StorageError, StoragePathError
from xcore.builtin_services.storage.local import STALE_TEMP_SECONDS, TEMP_PREFIX
from xcore.testing.conformance import running_service, settings_error


async def local(root: Path, **settings: object) -> LocalStorage:
    storage = LocalStorage(LocalStorageSettings.model_validate({"root": root, **settings}), "ext.storage")
    await storage.start()
    return storage


async def test_start_creates_the_root_and_health_reports_it(tmp_path: Path) -> None:
    root = tmp_path / "deep" / "storage"
    storage = await local(root)
    assert root.is_dir()
    report = await storage.health()
    assert report["root"] == str(root) and report["free_bytes"] > 0


async def test_objects_are_plain_files_under_the_root(tmp_path: Path) -> None:
    storage = await local(tmp_path)
    url = await storage.upload(data=b"pdf bytes", path="uploads/report.pdf")
    assert (tmp_path / "uploads" / "report.pdf").read_bytes() == b"pdf bytes"
    assert url == (tmp_path / "uploads" / "report.pdf").as_uri()


async def test_base_url_makes_upload_return_a_public_url(tmp_path: Path) -> None:
    storage = await local(tmp_path, base_url="https://cdn.example.com/files/")
    assert await storage.upload(data=b"x", path="a b/c.png") == "https://cdn.example.com/files/a%20b/c.png"


async def test_a_symlinked_folder_pointing_outside_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    root = tmp_path / "root"
    storage = await local(root)
    (root / "escape").symlink_to(outside)
    for operation in (storage.download, storage.exists, storage.delete):
        with pytest.raises(StoragePathError, match="outside the storage root"):
            await operation("escape/secret.txt")
    with pytest.raises(StoragePathError, match="symbolic link"):
        await storage.upload(data=b"evil", path="escape/new.txt")
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_bytes() == b"secret"
    assert await storage.list("") == []


async def test_a_symlinked_file_pointing_outside_is_refused_and_not_listed(tmp_path: Path) -> None:
    target = tmp_path / "passwd"
    target.write_bytes(b"root:x:0:0")
    root = tmp_path / "root"
    storage = await local(root)
    (root / "link.txt").symlink_to(target)
    with pytest.raises(StoragePathError):
        await storage.download("link.txt")
    with pytest.raises(StoragePathError):
        await storage.upload(data=b"overwrite", path="link.txt")
    assert target.read_bytes() == b"root:x:0:0"
    assert await storage.list("") == []


async def test_a_symlink_inside_the_root_is_followed(tmp_path: Path) -> None:
    storage = await local(tmp_path)
    await storage.upload(data=b"real", path="real/file.txt")
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    assert await storage.download("alias/file.txt") == b"real"


async def test_the_root_being_a_symlink_is_fine(tmp_path: Path) -> None:
    (tmp_path / "real-root").mkdir()
    (tmp_path / "root-link").symlink_to(tmp_path / "real-root")
    storage = await local(tmp_path / "root-link")
    await storage.upload(data=b"x", path="a/b.txt")
    assert await storage.download("a/b.txt") == b"x"
    assert await storage.list("a/") == ["a/b.txt"]


async def test_a_process_killed_mid_upload_leaves_no_partial_object(tmp_path: Path) -> None:
    """The writer dies (``os._exit``) after half the data: the old object survives, whole."""
    storage = await local(tmp_path)
    await storage.upload(data=b"previous complete version", path="doc.txt")
    script = textwrap.dedent(f"""
        import asyncio, os
        from pathlib import Path
        from xcore.builtin_services.storage import LocalStorage, LocalStorageSettings

        class DiesMidway:
            calls = 0
            def read(self, size=-1):
                self.calls += 1
                if self.calls == 1:
                    return b"half of the new versi"
                os._exit(3)  # the process is killed between two writes

        async def main():
            storage = LocalStorage(LocalStorageSettings(root=Path({str(tmp_path)!r}), fsync=False), "ext.storage")
            await storage.upload(data=DiesMidway(), path="doc.txt")

        asyncio.run(main())
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3, proc.stderr
    assert await storage.download("doc.txt") == b"previous complete version"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(TEMP_PREFIX)]
    assert len(leftovers) == 1  # the crashed writer's temporary file, never visible as an object
    assert await storage.list("") == ["doc.txt"]


async def test_stale_temporary_files_are_swept_at_start(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    stale = tmp_path / "a" / f"{TEMP_PREFIX}deadbeef"
    fresh = tmp_path / "a" / f"{TEMP_PREFIX}cafebabe"
    stale.write_bytes(b"crashed upload")
    fresh.write_bytes(b"upload in progress in another worker")
    old = time.time() - STALE_TEMP_SECONDS - 60
    os.utime(stale, (old, old))
    storage = await local(tmp_path)
    assert storage.sweeping is not None
    assert await storage.sweeping == 1  # in the background: a large root does not delay the boot
    assert not stale.exists()
    assert fresh.exists()


async def test_temporary_file_names_are_reserved(tmp_path: Path) -> None:
    storage = await local(tmp_path)
    with pytest.raises(StoragePathError, match="reserved"):
        await storage.upload(data=b"x", path=f"a/{TEMP_PREFIX}x")


async def test_an_object_and_a_folder_of_one_name_conflict_clearly(tmp_path: Path) -> None:
    storage = await local(tmp_path)
    await storage.upload(data=b"file", path="a")
    with pytest.raises(StorageError, match="already an object"):
        await storage.upload(data=b"x", path="a/b")
    await storage.upload(data=b"x", path="c/d")
    with pytest.raises(StorageError, match="folder of that name"):
        await storage.upload(data=b"file", path="c")
    assert await storage.download("a") == b"file"
    assert await storage.list("") == ["a", "c/d"]


async def test_a_root_that_cannot_be_created_fails_start_then_recovers(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_bytes(b"a file where the root folder should be")
    storage = LocalStorage(LocalStorageSettings(root=blocker / "storage"), "ext.storage")
    with pytest.raises(OSError):
        await storage.start()
    with pytest.raises(StorageError, match="does not exist"):
        await storage.health()
    blocker.unlink()
    await storage.upload(data=b"x", path="k")  # the folder is created on demand once possible
    await storage.health()


async def test_a_relative_root_is_fixed_at_build_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    storage = await local(Path("rel"))
    monkeypatch.chdir("/")
    await storage.upload(data=b"x", path="k")
    assert (tmp_path / "rel" / "k").read_bytes() == b"x"


async def test_the_embedded_default_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    async with running_service("extension", {"type": "local"}, name="storage") as storage:
        await storage.upload(data=b"x", path="k")
    assert (tmp_path / ".xcore" / "storage" / "k").read_bytes() == b"x"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"type": "local", "rooot": "x"}, "services.extensions.storage.rooot: unknown key; did you mean 'root'?"),
        ({"type": "local", "fsync": "sometimes"}, "services.extensions.storage.fsync"),
        ({"type": "locale"}, "services.extensions.storage: unknown extension type 'locale'. Did you mean 'local'?"),
    ],
)
async def test_bad_settings_name_the_key_path(settings: dict[str, object], message: str) -> None:
    assert message in str(await settings_error("extension", settings, name="storage"))
