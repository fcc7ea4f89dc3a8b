"""Settings of the ``local`` and ``s3`` storage types, as written under ``services.extensions.<name>``.

Values often come from ``${VAR}`` expansion, so an unset-but-defaulted variable arrives as ``""``:
optional settings treat an empty string as "not set" rather than as a value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator

from xcore._config.models import EMBEDDED_DATA_DIR
from xcore._services.types import ServiceSettings


def _blank_is_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


class LocalStorageSettings(ServiceSettings):
    """``type: local``: files under ``root`` on this machine.

    ``base_url`` is the public URL prefix ``upload`` returns (e.g. when a web server serves ``root``);
    without it ``upload`` returns a ``file://`` URL. ``fsync`` makes each write durable across a power
    loss, not just a crash (the atomic rename already protects against crashes).
    """

    root: Path = Path(EMBEDDED_DATA_DIR) / "storage"
    base_url: str | None = None
    fsync: bool = True

    _blank = field_validator("base_url", mode="before")(_blank_is_none)


class S3StorageSettings(ServiceSettings):
    """``type: s3``: a bucket on AWS S3 or any S3-compatible server (MinIO, Ceph, R2...).

    Credentials are optional here: without ``access_key_id``/``secret_access_key`` the usual AWS
    chain applies (environment variables, ``~/.aws`` files and ``profile``, instance roles).
    ``prefix`` keeps this service's objects under one folder of a shared bucket. ``public_url`` is
    the URL prefix ``upload`` returns (a CDN in front of the bucket); otherwise the bucket's own URL.
    ``max_attempts`` counts tries per call, retries backing off on throttling and dropped connections.
    """

    bucket: str = Field(min_length=3, max_length=63)
    region: str | None = None
    endpoint_url: str | None = None
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    session_token: SecretStr | None = None
    profile: str | None = None
    prefix: str = ""
    public_url: str | None = None
    presign_expires: int = Field(3600, ge=1, le=7 * 24 * 3600)
    addressing_style: Literal["auto", "path", "virtual"] = "auto"
    timeout: float = Field(30.0, gt=0)
    max_attempts: int = Field(3, ge=1, le=10)
    max_connections: int = Field(10, ge=1)
    create_bucket: bool = False

    _blank = field_validator(
        "region",
        "endpoint_url",
        "access_key_id",
        "secret_access_key",
        "session_token",
        "profile",
        "public_url",
        mode="before",
    )(_blank_is_none)

    @field_validator("endpoint_url", "public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https:// (got {value!r})")
        return value.rstrip("/") if value else value

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        value = value.strip("/")
        if ".." in value.split("/") or "\\" in value:
            raise ValueError("must be a plain folder path such as 'app/uploads'")
        return f"{value}/" if value else ""
