"""``type: local`` storage: what the conformance suite cannot check generically.

The root is a fence (symlinks out of it are refused), writes are atomic even when the process dies
mid-write, leftovers of crashed uploads are hidden and swept, and settings errors are clear.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from xcore._builtin_services.storage import (
    LocalStorage,
    LocalStorageSettings,
    StorageError,
    StorageNotFoundError,
    StoragePathError,
)
from xcore._builtin_services.storage.local import STALE_TEMP_SECONDS, TEMP_PREFIX
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


async def test_links_inside_the_root_are_not_followed_either_and_every_operation_agrees(tmp_path: Path) -> None:
    """A link is never an object: ``exists`` and ``list`` agree, whether it points inside or out."""
    storage = await local(tmp_path)
    await storage.upload(data=b"real", path="real/file.txt")
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    (tmp_path / "real" / "same.txt").symlink_to(tmp_path / "real" / "file.txt")
    for key in ("alias/file.txt", "real/same.txt"):
        for operation in (storage.download, storage.exists, storage.delete):
            with pytest.raises(StoragePathError, match="symbolic link"):
                await operation(key)
        with pytest.raises(StoragePathError, match="symbolic link"):
            await storage.upload(data=b"x", path=key)
    assert await storage.list("") == ["real/file.txt"]
    assert await storage.list("alias/") == []
    assert (tmp_path / "real" / "file.txt").read_bytes() == b"real"
    assert (tmp_path / "real" / "same.txt").is_symlink()


async def test_a_fifo_or_a_folder_is_not_an_object_and_never_blocks(tmp_path: Path) -> None:
    storage = await local(tmp_path)
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "folder").mkdir()
    for key in ("pipe", "folder"):
        with pytest.raises(StorageNotFoundError):
            await asyncio.wait_for(storage.download(key), timeout=10)
        assert not await storage.exists(key)
    assert await storage.list("") == []


SWAPPER = textwrap.dedent("""
    import os, shutil, sys, time

    root, outside, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    box, aside = os.path.join(root, "box"), os.path.join(root, "box.aside")
    swaps, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.rename(box, aside)  # the real folder steps aside...
            os.symlink(outside, box)  # ...a link to a folder outside the root takes its name...
            os.unlink(box)
            os.rename(aside, box)  # ...and the real folder comes back
            swaps += 1
        except OSError:  # an upload re-created 'box' in between: put the real folder back
            while os.path.isdir(aside) or os.path.islink(box):
                try:
                    if os.path.islink(box):
                        os.unlink(box)
                    elif os.path.lexists(box):
                        shutil.rmtree(box, ignore_errors=True)
                    os.rename(aside, box)
                except OSError:
                    pass
    print(swaps)
""")


async def test_swapping_a_folder_for_a_link_during_reads_and_uploads_never_escapes(tmp_path: Path) -> None:
    """The race of issue 13: another process swaps ``box`` for a link to ``outside`` thousands of times
    while reads, uploads, deletes, ``exists`` and ``list`` run through ``box`` in worker threads."""
    outside = tmp_path / "outside"
    outside.mkdir()
    for name in ("f.txt", "victim.txt", "only-outside.txt"):
        (outside / name).write_bytes(b"SECRET")
    root = tmp_path / "root"
    storage = await local(root, fsync=False)
    await storage.upload(data=b"inside", path="box/f.txt")
    await storage.upload(data=b"inside", path="box/victim.txt")
    swapper = subprocess.Popen(
        [sys.executable, "-c", SWAPPER, str(root), str(outside), "2.5"], stdout=subprocess.PIPE, text=True
    )
    outcomes = {"inside": 0, "missing": 0, "refused": 0, "other": 0}
    escapes: list[str] = []

    async def read(i: int) -> None:
        try:
            data = await storage.download("box/f.txt")
        except StorageNotFoundError:
            outcomes["missing"] += 1
        except StoragePathError:
            outcomes["refused"] += 1
        else:
            outcomes["inside" if data == b"inside" else "other"] += 1
            if data == b"SECRET":
                escapes.append(f"read {i}")

    async def write(i: int) -> None:
        with contextlib.suppress(StorageError):
            await storage.upload(data=b"upload", path=f"box/u{i}.txt")

    async def probe(i: int) -> None:
        with contextlib.suppress(StorageError):
            await storage.delete("box/victim.txt")
        with contextlib.suppress(StorageError):
            if await storage.exists("box/only-outside.txt"):
                escapes.append(f"exists {i}")
        if "box/only-outside.txt" in await storage.list("box/"):
            escapes.append(f"list {i}")

    operations = 0
    while swapper.poll() is None and operations < 30_000:
        batch = [op(operations + k) for k in range(4) for op in (read, read, write, probe)]
        await asyncio.gather(*batch)
        operations += len(batch)
    out, _ = swapper.communicate(timeout=30)
    assert swapper.returncode == 0
    assert escapes == []
    assert sorted(p.name for p in outside.iterdir()) == ["f.txt", "only-outside.txt", "victim.txt"]
    assert all((outside / name).read_bytes() == b"SECRET" for name in ("f.txt", "victim.txt", "only-outside.txt"))
    # the race really ran: thousands of swaps, and operations saw the folder both in place and away
    assert int(out) > 100, out
    assert outcomes["inside"] > 0 and outcomes["missing"] + outcomes["refused"] > 0, outcomes
    assert outcomes["other"] == 0, outcomes


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
        from xcore._builtin_services.storage import LocalStorage, LocalStorageSettings

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


async def test_a_root_that_is_a_file_is_an_error_naming_it(tmp_path: Path) -> None:
    storage = await local(tmp_path / "root")
    (tmp_path / "root").rmdir()
    (tmp_path / "root").write_bytes(b"not a folder")
    for call in (storage.download("k"), storage.exists("k"), storage.list(""), storage.upload(data=b"x", path="k")):
        with pytest.raises(StorageError, match=r"storage root .*root is not a folder"):
            await call
    assert (tmp_path / "root").read_bytes() == b"not a folder"


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
