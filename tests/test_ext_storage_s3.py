"""``type: s3`` storage against moto's S3 server: presigned URLs, prefixes, outages, missing extra."""

from __future__ import annotations

import asyncio
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from xcore._builtin_services.storage import StorageError
from xcore._errors import ServiceError
from xcore.testing.conformance import running_service, settings_error
from xcore.testing.servers import S3Server


def fresh_bucket(server: S3Server) -> str:
    if not server.running:
        server.start()
    return server.create_bucket(f"ext-{uuid.uuid4().hex[:10]}")


@pytest_asyncio.fixture
async def s3(s3_server: S3Server) -> AsyncIterator[Any]:
    async with running_service("extension", s3_server.settings(fresh_bucket(s3_server)), name="storage") as storage:
        yield storage


def http(method: str, url: str, data: bytes | None = None) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/octet-stream"} if data is not None else {}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


async def test_a_presigned_url_lets_a_plain_http_client_download(s3: Any) -> None:
    await s3.upload(data=b"invoice", path="invoices/1.pdf")
    url = await s3.presigned_url("invoices/1.pdf", expires=60)
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=60" in url
    assert await asyncio.to_thread(http, "GET", url) == (200, b"invoice")


async def test_a_presigned_put_url_lets_a_client_upload(s3: Any) -> None:
    url = await s3.presigned_url("incoming/photo.jpg", method="put")
    status, _body = await asyncio.to_thread(http, "PUT", url, b"jpeg bytes")
    assert status == 200
    assert await s3.download("incoming/photo.jpg") == b"jpeg bytes"


@pytest.mark.parametrize(("arguments", "message"), [
    ({"expires": 0}, "between 1 second and 7 days"),
    ({"expires": 8 * 24 * 3600}, "between 1 second and 7 days"),
    ({"method": "delete"}, "'get' or 'put'"),
])  # fmt: skip
async def test_presigned_url_arguments_are_checked(s3: Any, arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        await s3.presigned_url("p.txt", **arguments)


async def test_upload_sets_the_content_type_from_the_name_or_the_argument(s3: Any, s3_server: S3Server) -> None:
    await s3.upload(data=b"<p>", path="page.html")
    await s3.upload(data=b"{}", path="data", content_type="application/json")
    for key, expected in (("page.html", "text/html"), ("data", "application/json")):
        status, _ = await asyncio.to_thread(http, "GET", await s3.presigned_url(key))
        assert status == 200
        request = urllib.request.Request(await s3.presigned_url(key))
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.headers["Content-Type"] == expected


async def test_the_returned_url_is_the_object_url(s3: Any, s3_server: S3Server) -> None:
    url = await s3.upload(data=b"x", path="a b/c.txt")
    assert url == f"{s3_server.endpoint_url}/{s3.bucket}/a%20b/c.txt"


async def test_public_url_and_aws_urls(s3_server: S3Server) -> None:
    bucket = fresh_bucket(s3_server)
    async with running_service(
        "extension", s3_server.settings(bucket, public_url="https://cdn.example.com/", prefix="site"), name="storage"
    ) as storage:
        assert await storage.upload(data=b"x", path="logo.png") == "https://cdn.example.com/site/logo.png"
    from xcore._builtin_services.storage.s3 import S3Storage, load_aioboto3
    from xcore._builtin_services.storage.settings import S3StorageSettings

    aws = S3Storage(S3StorageSettings(bucket="my-bucket", region="eu-west-3"), "ext.storage", load_aioboto3())
    assert aws.url("a/b.txt") == "https://my-bucket.s3.eu-west-3.amazonaws.com/a/b.txt"


async def test_a_prefix_keeps_two_services_apart_in_one_bucket(s3_server: S3Server) -> None:
    bucket = fresh_bucket(s3_server)
    async with (
        running_service("extension", s3_server.settings(bucket, prefix="tenant-a"), name="a") as a,
        running_service("extension", s3_server.settings(bucket, prefix="/tenant-b/"), name="b") as b,
    ):
        await a.upload(data=b"from a", path="same.txt")
        await b.upload(data=b"from b", path="same.txt")
        assert await a.download("same.txt") == b"from a"
        assert await b.download("same.txt") == b"from b"
        assert await a.list() == ["same.txt"]
        await a.delete("same.txt")
        assert await b.exists("same.txt")


async def test_a_missing_bucket_fails_start_with_its_name(s3_server: S3Server) -> None:
    if not s3_server.running:
        s3_server.start()
    with pytest.raises(ServiceError, match="bucket 'no-such-bucket-here' does not exist"):
        async with running_service("extension", s3_server.settings("no-such-bucket-here"), name="storage"):
            pass


async def test_create_bucket_makes_a_missing_bucket(s3_server: S3Server) -> None:
    if not s3_server.running:
        s3_server.start()
    name = f"created-{uuid.uuid4().hex[:8]}"
    async with running_service("extension", s3_server.settings(name, create_bucket=True), name="storage") as storage:
        await storage.upload(data=b"x", path="k")
        assert await storage.health() == {"bucket": name, "endpoint": s3_server.endpoint_url}


async def test_the_service_recovers_by_itself_after_an_outage(s3_server: S3Server) -> None:
    settings = s3_server.settings(fresh_bucket(s3_server), max_attempts=1)
    async with running_service("extension", settings, name="storage") as s3:
        await outage_and_recovery(s3, s3_server)


async def outage_and_recovery(s3: Any, s3_server: S3Server) -> None:
    await s3.upload(data=b"before", path="k")
    s3_server.stop()
    try:
        with pytest.raises(StorageError, match=r"ext\.storage: download 'k' failed") as caught:
            await s3.download("k")
        assert s3_server.secret_access_key not in str(caught.value)
        with pytest.raises(StorageError):
            await s3.health()
    finally:
        s3_server.start()
    assert await s3.download("k") == b"before"  # same client object, new connection
    await s3.health()


async def test_wrong_credentials_never_appear_in_errors(s3_server: S3Server) -> None:
    bucket = fresh_bucket(s3_server)
    settings = s3_server.settings(bucket, endpoint_url="http://127.0.0.1:1", secret_access_key="hunter2-secret-key",
                                  max_attempts=1)  # fmt: skip
    with pytest.raises(ServiceError) as caught:
        async with running_service("extension", settings, name="storage"):
            pass
    assert "hunter2-secret-key" not in str(caught.value)
    assert "services.extensions.storage" in str(caught.value)


async def test_without_the_s3_extra_the_error_names_it(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "aioboto3", None)  # what an environment without xcore[s3] looks like
    with pytest.raises(ServiceError) as caught:
        async with running_service("extension", s3_server.settings("any-bucket"), name="storage"):
            pass
    assert "services.extensions.storage" in str(caught.value)
    assert "pip install 'xcore-host[s3]'" in str(caught.value)


@pytest.mark.parametrize(("settings", "message"), [
    ({"type": "s3"}, "services.extensions.storage.bucket: required key is missing"),
    ({"type": "s3", "bucket": "b"}, "services.extensions.storage.bucket"),
    ({"type": "s3", "bucket": "bkt", "endpoint_url": "localhost:9000"}, "must start with http:// or https://"),
    ({"type": "s3", "bucket": "bkt", "presign_expires": "forever"}, "services.extensions.storage.presign_expires"),
    ({"type": "s3", "bucket": "bkt", "prefix": "a/../b"}, "services.extensions.storage.prefix"),
    # (secret_key is the original XCore's spelling of secret_access_key: tests/compat accepts it)
    ({"type": "s3", "bucket": "bkt", "secret": "x"}, "services.extensions.storage.secret: unknown key"),
])  # fmt: skip
async def test_bad_settings_name_the_key_path(settings: dict[str, Any], message: str) -> None:
    assert message in str(await settings_error("extension", settings, name="storage"))


async def test_empty_variables_mean_unset(s3_server: S3Server) -> None:
    """``region: "${AWS_REGION:-}"`` expands to ``""``: the AWS default chain applies, no error."""
    bucket = fresh_bucket(s3_server)
    async with running_service(
        "extension", s3_server.settings(bucket, region="", session_token="", profile=""), name="storage"
    ) as storage:
        await storage.upload(data=b"x", path="k")
