"""moto's S3 API in server mode on 127.0.0.1, in a thread."""

from __future__ import annotations

import logging
from typing import Any

from xcore.testing.servers.ports import ServerUnavailable, free_port, wait_for_port


class S3Server:
    """moto's S3 API over HTTP on ``127.0.0.1:port``; any credentials are accepted."""

    access_key_id = "xcore-test-key"
    secret_access_key = "xcore-test-secret"
    region = "us-east-1"

    def __init__(self) -> None:
        self.port = free_port()
        self._server: Any = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> S3Server:
        try:
            from moto.server import ThreadedMotoServer
        except ImportError:
            raise ServerUnavailable("moto is not installed (pip install 'moto[server]')") from None
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        server.start()
        wait_for_port(self.port)
        self._server = server
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    def cleanup(self) -> None:
        self.stop()

    def create_bucket(self, name: str) -> str:
        """Create ``name`` (synchronously, with boto3) and return it."""
        import boto3

        client = boto3.client(
            "s3", endpoint_url=self.endpoint_url, region_name=self.region,
            aws_access_key_id=self.access_key_id, aws_secret_access_key=self.secret_access_key,
        )  # fmt: skip
        client.create_bucket(Bucket=name)
        client.close()
        return name

    def settings(self, bucket: str, **overrides: Any) -> dict[str, Any]:
        """An ``s3`` service section pointing at this server and ``bucket``."""
        section: dict[str, Any] = {
            "type": "s3", "bucket": bucket, "region": self.region, "endpoint_url": self.endpoint_url,
            "access_key_id": self.access_key_id, "secret_access_key": self.secret_access_key, "timeout": 5,
        }  # fmt: skip
        section.update(overrides)
        return section
