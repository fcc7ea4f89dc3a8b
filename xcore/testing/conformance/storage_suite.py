"""The storage conformance suite: what plugins may rely on from any ``ext.storage`` backend.

::

    from xcore.testing.conformance import StorageConformance

    class TestMyStorage(StorageConformance):
        @pytest.fixture
        def service_config(self):
            return {"type": "my-storage", "bucket": "test"}

Every test works under its own random prefix, so a shared bucket or folder is fine.
"""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest

from xcore._builtin_services.storage.errors import StorageError, StorageNotFoundError, StoragePathError
from xcore.testing.conformance.base import ConformanceSuite

BAD_PATHS = ["../escape.txt", "a/../../escape.txt", "/etc/passwd", "a\\..\\b", "", "a//b", "a/", "./a", "a/\x00b"]


class StorageConformance(ConformanceSuite):
    """Upload, download, exists, delete, list, URLs, bad keys, atomic replacement."""

    kind = "extension"
    section_name = "storage"

    @pytest.fixture
    def base(self, unique: str) -> str:
        return f"conformance/{unique}/"

    async def test_upload_then_download_returns_the_same_bytes(self, service: Any, base: str) -> None:
        payload = bytes(range(256)) * 4
        await service.upload(data=payload, path=f"{base}bytes.bin")
        assert await service.download(f"{base}bytes.bin") == payload

    async def test_upload_returns_the_url_of_the_object(self, service: Any, base: str) -> None:
        url = await service.upload(data=b"x", path=f"{base}u.txt")
        assert isinstance(url, str) and url
        assert url == service.url(f"{base}u.txt")

    async def test_upload_replaces_an_existing_object(self, service: Any, base: str) -> None:
        await service.upload(data=b"first version, longer", path=f"{base}doc.txt")
        await service.upload(data=b"second", path=f"{base}doc.txt")
        assert await service.download(f"{base}doc.txt") == b"second"

    async def test_upload_accepts_bytearray_memoryview_and_binary_files(self, service: Any, base: str) -> None:
        await service.upload(data=bytearray(b"array"), path=f"{base}a")
        await service.upload(data=memoryview(b"view"), path=f"{base}m")
        await service.upload(data=io.BytesIO(b"file" * 1000), path=f"{base}f")
        assert await service.download(f"{base}a") == b"array"
        assert await service.download(f"{base}m") == b"view"
        assert await service.download(f"{base}f") == b"file" * 1000

    async def test_empty_and_large_objects(self, service: Any, base: str) -> None:
        large = bytes(range(256)) * 8192  # 2 MiB
        await service.upload(data=b"", path=f"{base}empty")
        await service.upload(data=large, path=f"{base}large")
        assert await service.download(f"{base}empty") == b""
        assert await service.download(f"{base}large") == large

    async def test_non_ascii_keys(self, service: Any, base: str) -> None:
        key = f"{base}été/naïve file ñ.txt"
        await service.upload(data=b"unicode", path=key)
        assert await service.download(key) == b"unicode"
        assert await service.list(f"{base}été/") == [key]

    async def test_exists_and_delete(self, service: Any, base: str) -> None:
        key = f"{base}gone.txt"
        assert await service.exists(key) is False
        await service.upload(data=b"x", path=key)
        assert await service.exists(key) is True
        await service.delete(key)
        assert await service.exists(key) is False
        await service.delete(key)  # deleting what is not there is not an error

    async def test_download_of_a_missing_object_raises_not_found(self, service: Any, base: str) -> None:
        with pytest.raises(StorageNotFoundError) as caught:
            await service.download(f"{base}missing.txt")
        assert isinstance(caught.value, FileNotFoundError)
        assert "missing.txt" in str(caught.value)

    async def test_list_returns_sorted_keys_under_a_prefix(self, service: Any, base: str) -> None:
        keys = [f"{base}b.txt", f"{base}a.txt", f"{base}sub/c.txt", f"{base}sub/deeper/d.txt", f"{base}photo.png"]
        for key in keys:
            await service.upload(data=b"x", path=key)
        assert await service.list(base) == sorted(keys)
        assert await service.list(f"{base}sub/") == [f"{base}sub/c.txt", f"{base}sub/deeper/d.txt"]
        assert await service.list(f"{base}ph") == [f"{base}photo.png"]  # a plain string prefix, as in S3
        assert await service.list(f"{base}nothing/") == []

    async def test_list_of_a_deleted_object_drops_it(self, service: Any, base: str) -> None:
        await service.upload(data=b"x", path=f"{base}keep")
        await service.upload(data=b"x", path=f"{base}drop")
        await service.delete(f"{base}drop")
        assert await service.list(base) == [f"{base}keep"]

    async def test_bad_paths_are_refused_and_nothing_is_written(self, service: Any, base: str) -> None:
        await service.upload(data=b"original", path=f"{base}escape.txt")
        before = await service.list(base)
        for bad in BAD_PATHS:
            path = bad if bad.startswith("/") or not bad else f"{base}{bad}"
            for operation in (lambda p: service.upload(data=b"evil", path=p), service.download, service.exists,
                              service.delete):  # fmt: skip
                with pytest.raises(StoragePathError) as caught:
                    await operation(path)
                assert isinstance(caught.value, ValueError), f"{path!r}: StoragePathError must be a ValueError"
        for bad in ("../", "/abs", "a/../.."):
            with pytest.raises(StoragePathError):
                await service.list(bad)
        assert await service.list(base) == before
        assert await service.download(f"{base}escape.txt") == b"original"

    async def test_text_data_is_refused(self, service: Any, base: str) -> None:
        with pytest.raises(TypeError, match="encode"):
            await service.upload(data="some text", path=f"{base}text.txt")
        assert await service.exists(f"{base}text.txt") is False

    async def test_a_failing_upload_leaves_the_previous_object_intact(self, service: Any, base: str) -> None:
        class Broken(io.RawIOBase):
            def __init__(self) -> None:
                self.calls = 0

            def readable(self) -> bool:
                return True

            def read(self, size: int = -1) -> bytes:
                self.calls += 1
                if self.calls > 1:
                    raise OSError("the upload source broke")
                return b"partial" * 1000

        await service.upload(data=b"complete", path=f"{base}atomic.txt")
        with pytest.raises((OSError, StorageError)):
            await service.upload(data=Broken(), path=f"{base}atomic.txt")
        assert await service.download(f"{base}atomic.txt") == b"complete"
        assert await service.list(base) == [f"{base}atomic.txt"]

    async def test_concurrent_uploads(self, service: Any, base: str) -> None:
        keys = [f"{base}many/{i:03}" for i in range(20)]
        await asyncio.gather(*(service.upload(data=key.encode(), path=key) for key in keys))
        assert await service.list(f"{base}many/") == keys
        contents = await asyncio.gather(*(service.download(key) for key in keys))
        assert contents == [key.encode() for key in keys]

    async def test_concurrent_writes_to_one_key_never_mix(self, service: Any, base: str) -> None:
        payloads = [bytes([i]) * 100_000 for i in range(8)]
        await asyncio.gather(*(service.upload(data=p, path=f"{base}race") for p in payloads))
        assert await service.download(f"{base}race") in payloads
        assert await service.list(base) == [f"{base}race"]

    async def test_health_reports_ok(self, service: Any) -> None:
        await service.health()  # raises when unhealthy
