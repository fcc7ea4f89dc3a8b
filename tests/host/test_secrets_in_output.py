"""Every credential spelling by every output path: no secret is ever shown (issue 13, item 2).

One configuration carries a URL for each spelling in :data:`SPELLINGS`, each with its own secret:
in plugin settings (``config check`` prints them), in the settings of a third-party service backend
whose start and health fail quoting them (services, health, logs), and in the error of a plugin whose
``on_load`` fails quoting them (plugin records, ``plugins``, health, the action endpoint's error).
Each output of :data:`OUTPUTS` is produced once per module, by a real ``xcore serve``, the real CLI
in subprocesses and an in-process host; each cell of the table then checks that the secret is
absent, in plain and percent-encoded form, and that the URL did reach that output, masked (so the
cell cannot pass by the output not showing it at all).

To add an output path, add a producer to :data:`OUTPUTS`; to add a spelling, add it to :data:`SPELLINGS`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from xcore import Xcore
from xcore._redaction import MASK
from xcore.testing.configs import no_services

from .serving import xcore_serve
from .support import Site

SPELLINGS: dict[str, str] = {
    "userinfo": "postgresql://app:{s}@db.internal/app",
    "userinfo without a user": "redis://:{s}@cache.internal:6379/0",
    "password": "redis://cache.internal:6379/0?password={s}",
    "PASSWORD": "redis://cache.internal:6379/0?PASSWORD={s}",
    "Password after another parameter": "redis://cache.internal/0?db=1&Password={s}",
    "pass": "amqp://mq.internal/?heartbeat=30&pass={s}",
    "passwd": "mysql://db.internal/app?passwd={s}",
    "pwd": "mssql://db.internal/app?pwd={s}",
    "Pwd in a ; list": "odbc://db.internal/?Driver=x;Pwd={s}",
    "sslpassword": "postgresql://db.internal/app?sslmode=verify-full&sslpassword={s}",
    "secret": "https://hooks.internal/in?secret={s}",
    "client_secret": "https://auth.internal/token?client_id=app&client_secret={s}",
    "token": "https://api.internal/v1?token={s}",
    "access_token": "https://api.internal/v1?access_token={s}",
    "key": "https://maps.internal/api?key={s}",
    "api_key": "https://api.internal/v1?api_key={s}",
    "apikey": "https://api.internal/v1?apikey={s}",
    "api-key": "https://api.internal/v1?api-key={s}",
    "X-Amz-Signature": "https://bucket.s3.internal/o?X-Amz-Expires=60&X-Amz-Signature={s}",
    "sig": "https://blob.internal/c?sv=2020-01-01&sig={s}",
    "auth": "https://feed.internal/rss?auth={s}",
    "percent-encoded": "redis://cache.internal/0?password={s}",
    "repeated under an innocent key": "note {s}",
}
"""Label -> text quoting a secret at ``{s}``."""

INNOCENT = "repeated under an innocent key"
ENCODED = "percent-encoded"


def secret_of(label: str) -> str:
    """A distinct secret per spelling, none a part of another; the percent-encoded one needs encoding."""
    index = list(SPELLINGS).index(label)
    return f"Sx{index:02d}-p@ss/w0rd-Zq" if label == ENCODED else f"Sx{index:02d}-secret-Zq"


def quoted(label: str) -> str:
    """The text of ``label`` with its secret in place (percent-encoded where a URL needs it)."""
    secret = secret_of(label)
    return SPELLINGS[label].format(s=urllib.parse.quote(secret, safe="") if label == ENCODED else secret)


def masked_fragment(label: str) -> str:
    """What a masked quote of ``label`` shows: the few characters before the secret, then the mask."""
    return SPELLINGS[label].split("{s}")[0][-10:] + MASK


PLUGIN = """
from xcore.sdk import TrustedBase

class Plugin(TrustedBase):
    async def on_load(self) -> None:
        raise ConnectionError("cannot reach " + " ".join(self.ctx.config["urls"]))
"""

BACKEND = """
from xcore._hookspecs import hookimpl
from xcore._services import ServiceBase, ServiceSettings, ServiceType


class LeakySettings(ServiceSettings):
    urls: list[str]


class Leaky(ServiceBase):
    \"\"\"A third-party backend that forgets to redact: its errors quote its settings verbatim.\"\"\"

    def __init__(self, settings: LeakySettings) -> None:
        self.urls = settings.urls

    async def start(self) -> None:
        raise ConnectionError("cannot reach " + " ".join(self.urls))

    async def health(self) -> None:
        raise ConnectionError("still cannot reach " + " ".join(self.urls))

    async def close(self) -> None:
        return None


@hookimpl
def xcore_register_service() -> list[ServiceType]:
    return [ServiceType("extension", "leaky", LeakySettings, lambda settings, setup: Leaky(settings))]
"""

API_KEY = "admin-key-for-the-table"

Producer = Callable[["Setup"], dict[str, str]]
"""Runs a source (the CLI, a served host, an in-process host) and returns each output it gives."""


@dataclass
class Setup:
    site: Site
    config: Path
    produced: dict[Producer, dict[str, str]] = field(default_factory=dict)

    def output(self, path: str) -> str:
        """The text of output ``path``; its producer runs once per module."""
        producer = OUTPUTS[path]
        if producer not in self.produced:
            self.produced[producer] = producer(self)
        return self.produced[producer][path]

    def cli(self, *args: str) -> str:
        """stdout and stderr of ``xcore <args>`` (its log lines are output too)."""
        environment = {**os.environ, "PYTHONPATH": f"{self.site.root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        result = subprocess.run(
            [sys.executable, "-m", "xcore", *args, "--config", str(self.config)],
            capture_output=True,
            text=True,
            env=environment,
            cwd=self.config.parent,
            timeout=120,
            check=False,
        )
        return result.stdout + "\n" + result.stderr


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    root = tmp_path_factory.mktemp("secrets")
    site = Site(root / "site")
    site.plugin("leaky", PLUGIN, dist="xcore-leaky-plugin")
    site.plugin("leakysvc", BACKEND, dist="xcore-leaky-backend", group="xcore.services", attr="")
    urls = [quoted(label) for label in SPELLINGS]
    config = {
        "app": {"api_key": API_KEY, "log_level": "INFO"},
        "services": no_services(extensions={"leaky": {"type": "leaky", "urls": urls}}),
        "plugins": {
            "enabled": ["leaky"],
            "settings": {"leaky": {"urls": urls, "password": secret_of(INNOCENT), "note": secret_of(INNOCENT)}},
        },
    }
    path = root / "integration.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    sys.path.insert(0, str(site.root))
    try:
        yield Setup(site, path)
    finally:
        sys.path.remove(str(site.root))
        site.cleanup()


def served_outputs(setup: Setup) -> dict[str, str]:
    """A real ``xcore serve``: its readiness report, an action's error, an access log, and its log."""
    with xcore_serve(setup.config, pythonpath=str(setup.site.root)) as served:
        key = {"X-API-Key": API_KEY}
        outputs = {
            "GET /health/ready": served.get("/health/ready", headers=key)[1],
            "POST action error": served.get(
                "/plugins/leaky/actions/run",
                headers={**key, "Content-Type": "application/json"},
                method="POST",
                body=b"{}",
            )[1],
        }
        for label in SPELLINGS:  # the client's own credentials in its query string, in the access log
            served.get("/health?see=" + urllib.parse.quote(quoted(label), safe=":/?&=;@%"))
    outputs["access log and server log (stderr)"] = served.log_text()
    return outputs


def client_access_log(setup: Setup) -> dict[str, str]:
    """A served host whose config holds no secret: clients' own credentials in their query strings
    are masked in its access log by their spelling alone."""
    path = setup.config.parent / "no-secrets.yaml"
    path.write_text(yaml.safe_dump({"services": no_services(), "plugins": {"enabled": []}}))
    with xcore_serve(path) as served:
        for label in SPELLINGS:
            if label != INNOCENT:
                served.get("/health?see=" + urllib.parse.quote(quoted(label), safe=":/?&=;@%"))
    return {"access log, the client's own credentials": served.log_text()}


def in_process_outputs(setup: Setup) -> dict[str, str]:
    """An in-process host: its log records (as caplog keeps them) and its plugin error records."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    async def run() -> str:
        host = Xcore(setup.config)
        await host.boot()
        try:
            await host.health()
            return json.dumps([r.report() for r in host.plugins])
        finally:
            await host.shutdown()

    handler = Keep(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    level = logging.getLogger().level
    logging.getLogger().setLevel(logging.DEBUG)
    try:
        reports = asyncio.run(run())
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(level)
    formatter = logging.Formatter("%(name)s %(message)s")
    return {"log records (caplog)": "\n".join(formatter.format(r) for r in records), "plugin error records": reports}


def cli(*args: str) -> Producer:
    def produce(setup: Setup) -> dict[str, str]:
        return {" ".join(("xcore", *args)): setup.cli(*args)}

    return produce


OUTPUTS: dict[str, Producer] = {
    "xcore services": cli("services"),
    "xcore services --json": cli("services", "--json"),
    "xcore health": cli("health"),
    "xcore health --json": cli("health", "--json"),
    "xcore plugins": cli("plugins"),
    "xcore plugins --json": cli("plugins", "--json"),
    "xcore jobs": cli("jobs"),
    "xcore config check": cli("config", "check"),
    "GET /health/ready": served_outputs,
    "POST action error": served_outputs,
    "access log and server log (stderr)": served_outputs,
    "access log, the client's own credentials": client_access_log,
    "log records (caplog)": in_process_outputs,
    "plugin error records": in_process_outputs,
}
"""Output path -> the producer giving it (producers of several paths run once)."""


NOT_APPLICABLE = {("access log, the client's own credentials", INNOCENT)}
"""Cells that cannot exist: a value is only known to be secret from the config's other keys."""


@pytest.mark.parametrize(
    ("path", "label"), [(p, label) for p in OUTPUTS for label in SPELLINGS if (p, label) not in NOT_APPLICABLE]
)
def test_no_output_shows_a_secret(setup: Setup, path: str, label: str) -> None:
    text = setup.output(path)
    secret = secret_of(label)
    for form in {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote(secret)}:
        assert form not in text, f"{path} shows the {label!r} secret"
    assert masked_fragment(label) in text, f"{path} never showed the {label!r} URL, so the check proves nothing"
