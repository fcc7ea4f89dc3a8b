"""Run the Python examples of the services spec as written, as plugins, on both kinds of backend.

The spec (``working-with-services.md``) is read at test time from ``shared/`` beside the repository:
each ```` ```python ```` block is taken with the heading it sits under, and executed as a module whose
only additions are the imports the block leaves out (each test names them). Line numbers are kept, so
a traceback points at the spec's own line.

Backends: ``embedded`` is what ``xcore serve`` runs with no configuration (SQLite, memory cache and
scheduler, local storage) plus what an example names but the defaults lack (``async_default``);
``servers`` is the spec's own YAML configuration blocks, read from the same file, with their
``${VAR}`` filled from real PostgreSQL, Redis, SMTP and S3 servers.
"""

from __future__ import annotations

import re
import sys
import types
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ci import unavailable

REPO_ROOT = Path(__file__).resolve().parent.parent
SPEC = REPO_ROOT.parent / "shared" / "spec" / "working-with-services.md"

_HEADING = re.compile(r"^(#{2,4})\s+(.*?)\s*$")
_FENCE = re.compile(r"^```(\w*)\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced code block of the spec: its language, the heading above it, its first line."""

    language: str
    section: str
    line: int
    code: str


def spec_text() -> str:
    """The spec's text; missing, it fails the run under CI (it must be there) and skips elsewhere."""
    if not SPEC.is_file():
        message = f"the services spec is not at {SPEC} (shared/ must sit beside the repository clone)"
        unavailable(message)
    return SPEC.read_text(encoding="utf-8")


def blocks(text: str) -> list[Block]:
    """Every fenced block of ``text``, in order, with the nearest heading above it."""
    found: list[Block] = []
    section = ""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        heading = _HEADING.match(line)
        fence = _FENCE.match(line)
        if heading:
            section = heading.group(2)
        elif fence:
            end = index + 1
            while end < len(lines) and not lines[end].startswith("```"):
                end += 1
            found.append(Block(fence.group(1), section, index + 2, "\n".join(lines[index + 1 : end]) + "\n"))
            index = end
        index += 1
    return found


def python_block(section: str) -> Block:
    """The one Python block under heading ``section``."""
    matching = [b for b in blocks(spec_text()) if b.language == "python" and b.section == section]
    assert len(matching) == 1, f"expected one python block under '{section}', found {len(matching)}"
    return matching[0]


def load_example(section: str, added_imports: str) -> types.ModuleType:
    """The spec's Python block under ``section`` executed as a module, after ``added_imports``.

    ``added_imports`` holds only import lines: what the block uses without importing it.
    """
    for line in added_imports.strip().splitlines():
        assert line.startswith(("from ", "import ")), f"only imports may be added to a spec example: {line!r}"
    block = python_block(section)
    name = "spec_example_" + re.sub(r"\W+", "_", section).strip("_").lower() + "_" + uuid.uuid4().hex[:8]
    module = types.ModuleType(name)
    module.__file__ = str(SPEC)
    sys.modules[name] = module
    exec(compile(added_imports, f"<imports added to '{section}'>", "exec"), module.__dict__)
    # Padding keeps the spec's line numbers, so tracebacks quote working-with-services.md itself.
    exec(compile("\n" * (block.line - 1) + block.code, str(SPEC), "exec"), module.__dict__)
    return module


# --------------------------------------------------------------------------- backends


def embedded_config() -> dict[str, Any]:
    """The embedded defaults, plus the ``async_default`` database the async example asks for."""
    return {
        "services": {
            "databases": {
                "default": {"type": "sqlite", "url": "sqlite:///.xcore/xcore.db"},
                "async_default": {"type": "sqlasync", "url": "sqlite:///.xcore/async.db"},
            }
        }
    }


@dataclass
class Servers:
    """Real servers for one test: a fresh PostgreSQL database, Redis, SMTP and S3."""

    database_url: str
    redis_url: str
    redis: Any
    smtp: Any
    s3: Any
    bucket: str

    def env(self) -> dict[str, str]:
        """What the spec's ``${VAR}`` references expand to."""
        return {
            "DATABASE_URL": self.database_url,
            "DATABASE_ASYNC_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "SMTP_HOST": self.smtp.host,
            "SMTP_PORT": str(self.smtp.port),
            "SMTP_USER": self.smtp.user or "",
            "SMTP_PASSWORD": self.smtp.password or "",
            "S3_BUCKET": self.bucket,
            "AWS_REGION": self.s3.region,
        }

    def config(self) -> dict[str, Any]:
        """The spec's configuration blocks, merged, with what these local servers need beyond them.

        Additions (each a key the spec's block does not show): ``tls: false`` for the test SMTP
        server, which speaks plain SMTP; the S3 server's ``endpoint_url`` and credentials (moto, not AWS).
        """
        database = _yaml_under("Database Service")["services"]
        cache = _yaml_under("Cache Service")["services"]
        scheduler = _yaml_under("Scheduler Service")["services"]
        extensions = _yaml_under("Custom Extensions")["services"]
        services = {**database, **cache, **scheduler, **extensions}
        # The scheduler's block names no url: it uses the cache's Redis, as a user's would.
        services["extensions"]["email"]["tls"] = False
        services["extensions"]["storage"].update(
            endpoint_url=self.s3.endpoint_url,
            access_key_id=self.s3.access_key_id,
            secret_access_key=self.s3.secret_access_key,
        )
        return {"services": services}


def _yaml_under(chapter: str) -> dict[str, Any]:
    """The YAML block of the ``##`` chapter ``chapter`` (the first one after its heading)."""
    text = spec_text()
    start = text.index(f"## {chapter}\n")
    following = [b for b in blocks(text[start:]) if b.language == "yaml"]
    loaded: dict[str, Any] = yaml.safe_load(following[0].code)
    return loaded


def fresh_postgres_database(server_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for one test; dropped afterwards."""
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"spec_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


USERS_TABLE = {
    "sqlite": """CREATE TABLE IF NOT EXISTS users (
        id INTEGER PRIMARY KEY AUTOINCREMENT, username TEXT NOT NULL, email TEXT NOT NULL, created_at TIMESTAMP)""",
    "postgresql": """CREATE TABLE IF NOT EXISTS users (
        id SERIAL PRIMARY KEY, username TEXT NOT NULL, email TEXT NOT NULL, created_at TIMESTAMPTZ)""",
}
"""The table the spec's user examples query; the spec shows no schema, so the tests create it."""


# --------------------------------------------------------------------------- fixtures


@dataclass
class Backend:
    """What one parametrized run boots on: ``embedded`` or ``servers``."""

    name: str
    config: dict[str, Any]
    env: dict[str, str] | None = None
    servers: Servers | None = None

    @property
    def dialect(self) -> str:
        return "postgresql" if self.servers is not None else "sqlite"


def servers_backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """Start (or reuse) every server and give this test a fresh database and bucket."""
    postgres = request.getfixturevalue("postgres_server")
    redis_url = request.getfixturevalue("redis_url")
    smtp = request.getfixturevalue("smtp_server")
    s3 = request.getfixturevalue("s3_server")
    bucket = s3.create_bucket(f"spec-{uuid.uuid4().hex[:12]}")
    for database_url in fresh_postgres_database(postgres.url):
        servers = Servers(database_url, redis_url, request.getfixturevalue("redis_server"), smtp, s3, bucket)
        yield Backend("servers", servers.config(), servers.env(), servers)


@pytest.fixture(params=["embedded", "servers"])
def spec_backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """Each spec example runs twice: on the embedded defaults and on real servers."""
    if request.param == "embedded":
        yield Backend("embedded", embedded_config())
    else:
        yield from servers_backend(request)


@pytest.fixture
def spec_servers(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """For examples that need a server the embedded defaults do not have (Redis as a database)."""
    yield from servers_backend(request)
