"""Built-in storage backends: ``local`` (files under a folder, the embedded default) and ``s3``.

Both register as extension types through ``xcore_register_service``, exactly like a third-party
backend would, and offer one interface (:class:`~xcore._builtin_services.storage.base.Storage`)::

    storage = self.get_service("ext.storage")
    url = await storage.upload(data=b"...", path="uploads/report.pdf")
    data = await storage.download("uploads/report.pdf")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from xcore._builtin_services.storage.settings import LocalStorageSettings, S3StorageSettings
from xcore._hookspecs import hookimpl
from xcore._services.types import ServiceSetup, ServiceType

if TYPE_CHECKING:
    from xcore._builtin_services.storage.base import Storage, UploadData
    from xcore._builtin_services.storage.errors import StorageError, StorageNotFoundError, StoragePathError
    from xcore._builtin_services.storage.local import LocalStorage
else:
    # Importing the backend declares it; an implementation loads when its storage is built.
    from xcore._builtin_services.lazy_exports import lazy_exports

    __getattr__ = lazy_exports(
        __name__,
        {
            "Storage": ".base",
            "UploadData": ".base",
            "StorageError": ".errors",
            "StorageNotFoundError": ".errors",
            "StoragePathError": ".errors",
            "LocalStorage": ".local",
        },
    )


def build_local(settings: LocalStorageSettings, setup: ServiceSetup) -> LocalStorage:
    from xcore._builtin_services.storage.local import LocalStorage

    return LocalStorage(settings, setup.name)


def build_s3(settings: S3StorageSettings, setup: ServiceSetup) -> Storage:
    # imported here so that XCore without the s3 extra never imports aioboto3 or botocore
    from xcore._builtin_services.storage.s3 import S3Storage, load_aioboto3

    return S3Storage(settings, setup.name, load_aioboto3())


@hookimpl
def xcore_register_service() -> list[ServiceType]:
    return [
        ServiceType(
            "extension",
            "local",
            LocalStorageSettings,
            build_local,
            description="Files under a local folder, written atomically",
        ),
        ServiceType(
            "extension",
            "s3",
            S3StorageSettings,
            build_s3,
            description="An S3 or S3-compatible bucket (needs the xcore-host[s3] extra)",
        ),
    ]


__all__ = [
    "LocalStorage",
    "LocalStorageSettings",
    "S3StorageSettings",
    "Storage",
    "StorageError",
    "StorageNotFoundError",
    "StoragePathError",
    "UploadData",
]
