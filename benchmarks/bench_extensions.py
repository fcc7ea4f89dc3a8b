"""Extension services against the raw calls they wrap, side by side in one run.

* ``local`` storage upload/download of 4 KiB through ``ext.storage`` against ``Path.write_bytes`` /
  ``read_bytes`` in a worker thread, the naive code a plugin would write, and against the same atomic
  temp-file-and-rename written by hand: the first ratio is the price of atomicity, the second what the
  key checks and symlink resolution add (``fsync`` is off on all sides, so the disk's flush latency
  does not drown the comparison; with ``fsync: true``, the default, each write also waits for the disk);
* ``s3`` upload/download of 4 KiB through the service against a raw aioboto3 client on the same moto server;
* ``smtp`` send through ``ext.email`` against ``aiosmtplib.send`` of a prebuilt message to the same
  aiosmtpd server (both open one connection per message).

Servers run on 127.0.0.1. Paths alternate in rounds (``paired_async``); figures are medians in µs.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aioboto3
import aiosmtplib

from benchmarks.common import Result, paired_async
from xcore import Xcore
from xcore.testing.configs import no_services
from xcore.testing.servers import S3Server, SmtpServer

AREA = "extensions"
PAYLOAD = bytes(range(256)) * 16  # 4 KiB


async def run(quick: bool) -> list[Result]:
    folder = Path(tempfile.mkdtemp(prefix="xcore-bench-ext-"))
    smtp, s3_server = SmtpServer().start(), S3Server().start()
    bucket = s3_server.create_bucket(f"bench-{uuid.uuid4().hex[:8]}")
    rounds = 9 if quick else 25
    config = {"services": no_services(extensions={
        "storage": {"type": "local", "root": str(folder / "service"), "fsync": False},
        "s3": s3_server.settings(bucket),
        "email": smtp.settings(),
    })}  # fmt: skip
    host = Xcore(config=config, discover=False)
    await host.boot()
    results: list[Result] = []
    try:
        results += await local_cases(host.get_service("ext.storage"), folder / "raw", rounds)
        results += await s3_cases(host.get_service("ext.s3"), s3_server, bucket, rounds)
        results += await smtp_cases(host.get_service("ext.email"), smtp, rounds)
    finally:
        await host.shutdown()
        smtp.cleanup()
        s3_server.cleanup()
    return results


def us(ns: float) -> float:
    return ns / 1000


async def local_cases(storage: Any, raw_root: Path, rounds: int) -> list[Result]:
    raw_root.mkdir(parents=True)
    raw_file = raw_root / "bench.bin"

    async def raw_write() -> None:
        await asyncio.to_thread(raw_file.write_bytes, PAYLOAD)

    async def service_write() -> None:
        await storage.upload(data=PAYLOAD, path="bench/bench.bin")

    up_x, up_b, _ = await paired_async(service_write, raw_write, ops=20, rounds=rounds)

    def atomic_write_sync() -> None:
        temporary = raw_root / f".tmp-{uuid.uuid4().hex}"
        temporary.write_bytes(PAYLOAD)
        os.replace(temporary, raw_file)

    async def raw_atomic_write() -> None:
        await asyncio.to_thread(atomic_write_sync)

    atomic_x, atomic_b, _ = await paired_async(service_write, raw_atomic_write, ops=20, rounds=rounds)

    async def raw_read() -> None:
        await asyncio.to_thread(raw_file.read_bytes)

    async def service_read() -> None:
        await storage.download("bench/bench.bin")

    down_x, down_b, _ = await paired_async(service_read, raw_read, ops=20, rounds=rounds)
    return [
        Result(
            AREA,
            "local upload 4 KiB vs naive write_bytes",
            us(up_x),
            us(up_b),
            "us",
            note="the price of atomicity: a new file and a rename instead of an overwrite",
        ),
        Result(AREA, "local upload 4 KiB vs raw temp file + os.replace", us(atomic_x), us(atomic_b), "us", target=1.3),
        Result(AREA, "local download 4 KiB vs read_bytes", us(down_x), us(down_b), "us", target=1.5),
    ]


async def s3_cases(storage: Any, server: S3Server, bucket: str, rounds: int) -> list[Result]:
    session = aioboto3.Session()
    async with session.client(
        "s3", endpoint_url=server.endpoint_url, region_name=server.region,
        aws_access_key_id=server.access_key_id, aws_secret_access_key=server.secret_access_key,
    ) as client:  # fmt: skip

        async def raw_put() -> None:
            await client.put_object(Bucket=bucket, Key="raw.bin", Body=PAYLOAD, ContentType="application/octet-stream")

        async def service_put() -> None:
            await storage.upload(data=PAYLOAD, path="svc.bin")

        up_x, up_b, _ = await paired_async(service_put, raw_put, ops=5, rounds=rounds)

        async def raw_get() -> None:
            response = await client.get_object(Bucket=bucket, Key="raw.bin")
            async with response["Body"] as stream:
                await stream.read()

        async def service_get() -> None:
            await storage.download("svc.bin")

        down_x, down_b, _ = await paired_async(service_get, raw_get, ops=5, rounds=rounds)
    return [
        Result(AREA, "s3 upload 4 KiB vs raw aioboto3", us(up_x), us(up_b), "us", target=1.2),
        Result(AREA, "s3 download 4 KiB vs raw aioboto3", us(down_x), us(down_b), "us", target=1.2),
    ]


async def smtp_cases(email: Any, server: SmtpServer, rounds: int) -> list[Result]:
    def prebuilt() -> EmailMessage:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "xcore@example.test", "ann@example.com", "bench"
        message.set_content("Your export is ready.")
        return message

    async def raw_send() -> None:
        await aiosmtplib.send(prebuilt(), hostname=server.host, port=server.port, start_tls=False, timeout=10)

    async def service_send() -> None:
        await email.send(to="ann@example.com", subject="bench", body="Your export is ready.")

    send_x, send_b, _ = await paired_async(service_send, raw_send, ops=5, rounds=rounds)
    server.messages.clear()
    return [Result(AREA, "smtp send vs raw aiosmtplib.send", us(send_x), us(send_b), "us", target=1.2)]


if __name__ == "__main__":
    for result in asyncio.run(run(quick=True)):
        print(f"{result.case:48} {result.xcore:10.1f} {result.baseline:10.1f} {result.unit} x{result.ratio:.2f}")
