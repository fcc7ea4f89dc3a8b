"""``type: s3``: objects in an S3 bucket (AWS or any S3-compatible server), through aioboto3.

Why aioboto3 rather than boto3 in a thread: storage calls are network waits, and a plugin uploading
many files concurrently would otherwise occupy one worker thread per request (the default thread
pool is small and shared with every other ``to_thread`` user). aioboto3 keeps each request a
coroutine over one pooled HTTP client. It is the optional extra ``xcore-host[s3]`` and is imported only
when an ``s3`` service is built.

The client is created on first use, not at construction, and survives outages: botocore opens a
new connection for the next call once the server answers again, so a service whose ``start()``
failed becomes healthy by itself.
"""

from __future__ import annotations

import asyncio
import builtins
import mimetypes
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from types import ModuleType
from typing import Any, Literal
from urllib.parse import quote

from xcore._builtin_services.storage.base import Storage, UploadData
from xcore._builtin_services.storage.errors import StorageNotFoundError
from xcore._builtin_services.storage.keys import check_key
from xcore._builtin_services.storage.settings import S3StorageSettings
from xcore._redaction import redact_text

_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}
_DENIED = {"AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"}


class S3Storage(Storage):
    """Objects under ``settings.prefix`` in ``settings.bucket``."""

    def __init__(self, settings: S3StorageSettings, service_name: str, aioboto3: ModuleType) -> None:
        super().__init__(service_name)
        self.settings = settings
        self.bucket = settings.bucket
        self.prefix = settings.prefix
        self._aioboto3 = aioboto3
        self._client: Any = None
        self._stack: AsyncExitStack | None = None
        self._lock = asyncio.Lock()
        self._secrets = [s.get_secret_value() for s in (settings.secret_access_key, settings.session_token) if s]

    # ------------------------------------------------------------------ client

    async def _get_client(self) -> Any:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                from aiobotocore.config import AioConfig

                s = self.settings
                session = shared_session(self._aioboto3, s.profile)
                config = AioConfig(
                    connect_timeout=s.timeout,
                    read_timeout=s.timeout,
                    max_pool_connections=s.max_connections,
                    retries={"max_attempts": s.max_attempts, "mode": "standard"},
                    s3={"addressing_style": s.addressing_style},
                    signature_version="s3v4",
                )
                stack = AsyncExitStack()
                self._client = await stack.enter_async_context(
                    session.client(
                        "s3",
                        region_name=s.region,
                        endpoint_url=s.endpoint_url,
                        config=config,
                        aws_access_key_id=s.access_key_id,
                        aws_secret_access_key=s.secret_access_key.get_secret_value() if s.secret_access_key else None,
                        aws_session_token=s.session_token.get_secret_value() if s.session_token else None,
                    )
                )
                self._stack = stack
        return self._client

    @asynccontextmanager
    async def _calling(self, action: str, key: str | None = None) -> AsyncIterator[Any]:
        """The client, with botocore's errors turned into storage errors naming the service and key."""
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        what = f"{action} {key!r}" if key is not None else action
        try:
            yield await self._get_client()
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if code in _NOT_FOUND and key is not None:
                raise StorageNotFoundError(f"{self.service_name}: no object stored under {key!r}") from None
            if code == "NoSuchBucket" or (code in _NOT_FOUND and key is None):
                raise self.error(f"{what}: bucket {self.bucket!r} does not exist") from None
            if code in _DENIED:
                raise self.error(
                    f"{what}: access denied to bucket {self.bucket!r} ({code}); check the credentials"
                ) from None
            raise self.error(self._clean(f"{what} failed: {code}: {error.get('Message', exc)}")) from None
        except NoCredentialsError:
            raise self.error(
                f"{what}: no AWS credentials found; set access_key_id and secret_access_key in the service "
                "settings, the AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY variables, or a profile"
            ) from None
        except BotoCoreError as exc:
            raise self.error(self._clean(f"{what} failed: {exc}")) from None

    def _clean(self, text: str) -> str:
        return redact_text(text, self._secrets)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self.settings.create_bucket:
            await self._create_bucket_if_missing()
        await self.health()

    async def health(self) -> dict[str, Any]:
        async with self._calling("checking the bucket") as client:
            await client.head_bucket(Bucket=self.bucket)
        return {"bucket": self.bucket, "endpoint": self.settings.endpoint_url or "aws"}

    async def close(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    async def _create_bucket_if_missing(self) -> None:
        from botocore.exceptions import ClientError

        async with self._calling("creating the bucket") as client:
            try:
                await client.head_bucket(Bucket=self.bucket)
                return
            except ClientError as exc:
                if str(exc.response.get("Error", {}).get("Code")) not in _NOT_FOUND | {"NoSuchBucket"}:
                    raise
            params: dict[str, Any] = {"Bucket": self.bucket}
            if self.settings.region and self.settings.region != "us-east-1":
                params["CreateBucketConfiguration"] = {"LocationConstraint": self.settings.region}
            await client.create_bucket(**params)

    # ------------------------------------------------------------------ operations

    async def _upload(self, key: str, data: UploadData, content_type: str | None) -> None:
        content_type = content_type or mimetypes.guess_type(key)[0] or "application/octet-stream"
        async with self._calling("upload", key) as client:
            if isinstance(data, bytes | bytearray | memoryview):
                await client.put_object(
                    Bucket=self.bucket, Key=self.prefix + key, Body=bytes(data), ContentType=content_type
                )
            else:  # managed transfer: multipart for large files, without reading them into memory
                await client.upload_fileobj(
                    data, self.bucket, self.prefix + key, ExtraArgs={"ContentType": content_type}
                )

    async def _download(self, key: str) -> bytes:
        async with self._calling("download", key) as client:
            response = await client.get_object(Bucket=self.bucket, Key=self.prefix + key)
            async with response["Body"] as stream:
                data: bytes = await stream.read()
                return data

    async def _delete(self, key: str) -> None:
        async with self._calling("delete", key) as client:
            await client.delete_object(Bucket=self.bucket, Key=self.prefix + key)

    async def _exists(self, key: str) -> bool:
        try:
            async with self._calling("exists", key) as client:
                await client.head_object(Bucket=self.bucket, Key=self.prefix + key)
        except StorageNotFoundError:
            return False
        return True

    async def _list(self, prefix: str) -> builtins.list[str]:
        keys: builtins.list[str] = []
        async with self._calling("list", prefix) as client:
            paginator = client.get_paginator("list_objects_v2")
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                keys.extend(item["Key"][len(self.prefix) :] for item in page.get("Contents", ()))
        return keys

    def _url(self, key: str) -> str:
        full = quote(self.prefix + key)
        s = self.settings
        if s.public_url:
            return f"{s.public_url}/{full}"
        if s.endpoint_url:
            return f"{s.endpoint_url}/{self.bucket}/{full}"
        return f"https://{self.bucket}.s3.{s.region or 'us-east-1'}.amazonaws.com/{full}"

    async def presigned_url(self, path: str, expires: int | None = None, method: Literal["get", "put"] = "get") -> str:
        """A time-limited URL that lets anyone holding it download (or upload, ``method="put"``) ``path``."""
        key = check_key(path)
        if method not in ("get", "put"):
            raise ValueError(f"presigned_url: method must be 'get' or 'put', got {method!r}")
        seconds = self.settings.presign_expires if expires is None else expires
        if not 1 <= seconds <= 7 * 24 * 3600:
            raise ValueError(f"presigned_url: expires must be between 1 second and 7 days, got {seconds}")
        async with self._calling("presigning", key) as client:
            url: str = await client.generate_presigned_url(
                f"{method}_object",
                Params={"Bucket": self.bucket, "Key": self.prefix + key},
                ExpiresIn=seconds,
            )
        return url


_sessions: dict[str | None, Any] = {}


def shared_session(aioboto3: ModuleType, profile: str | None) -> Any:
    """One aioboto3 session per profile for the whole process.

    A session loads botocore's S3 model (a large JSON file) the first time it makes a client; sharing
    it makes every further client (another s3 service, another host in the same process) take
    milliseconds instead of a tenth of a second. Credentials given in settings go to the client,
    not the session, so services with different keys still share it safely.
    """
    session = _sessions.get(profile)
    if session is None:
        session = _sessions[profile] = aioboto3.Session(profile_name=profile) if profile else aioboto3.Session()
    return session


def load_aioboto3() -> ModuleType:
    """aioboto3, or an ImportError that says which extra to install."""
    try:
        import aioboto3
    except ImportError as exc:
        raise ModuleNotFoundError(
            "the s3 storage type needs the optional package aioboto3, which is not installed; "
            "install it with: pip install 'xcore-host[s3]'",
            name="aioboto3",
        ) from exc
    module: ModuleType = aioboto3
    return module
