"""A throwaway PostgreSQL cluster from Debian's ``initdb`` and ``pg_ctl``."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Literal

from xcore.testing.servers.ports import ServerUnavailable, free_port, wait_for_port


class PostgresServer:
    """A throwaway PostgreSQL cluster (``initdb`` + ``pg_ctl``) owned by an unprivileged user.

    PostgreSQL refuses to run as root; when the tests run as root the cluster is created for the
    ``nobody`` user (or ``XCORE_TEST_PG_USER``).
    """

    def __init__(self) -> None:
        self.bindir = self._bindir()
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="xcore-pg-")
        self.data = os.path.join(self.dir, "data")
        self.user = "xcore"
        self.password = "xcore-secret"
        self.database = "xcore"
        self._run_as: str | None = None
        if os.geteuid() == 0:
            self._run_as = os.environ.get("XCORE_TEST_PG_USER", "nobody")
            entry = pwd.getpwnam(self._run_as)
            os.chmod(self.dir, 0o755)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        self._initdb()

    @staticmethod
    def _bindir() -> Path:
        candidates: list[Path] = []
        pg_config = shutil.which("pg_config")
        if pg_config:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
            candidates.append(Path(out.stdout.strip()))
        candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
        for path in candidates:
            if (path / "initdb").exists() and (path / "pg_ctl").exists():
                return path
        raise ServerUnavailable("PostgreSQL server binaries not found (apt-get install postgresql)")

    def _run(self, *args: str) -> None:
        cmd = list(args)
        if self._run_as is not None:
            cmd = ["runuser", "-u", self._run_as, "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=self.dir)
        if proc.returncode != 0:
            raise ServerUnavailable(f"{' '.join(args[:2])} failed: {proc.stderr.strip() or proc.stdout.strip()}")

    def _initdb(self) -> None:
        pwfile = os.path.join(self.dir, "pw")
        with open(pwfile, "w") as fh:
            fh.write(self.password)
        if self._run_as is not None:
            entry = pwd.getpwnam(self._run_as)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            self.data,
            "-U",
            self.user,
            "--pwfile",
            pwfile,
            "-A",
            "scram-sha-256",
            "-E",
            "UTF8",
            "--no-sync",
        )

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.database}"

    def start(self) -> PostgresServer:
        opts = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.dir} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            self.data,
            "-o",
            opts,
            "-l",
            os.path.join(self.dir, "log"),
            "-w",
            "-t",
            "60",
            "start",
        )
        wait_for_port(self.port)
        self._ensure_database()
        return self

    def _ensure_database(self) -> None:
        import psycopg  # the postgres extra; only the tests of the PostgreSQL paths need it

        with psycopg.connect(self.url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.database}"')

    @property
    def running(self) -> bool:
        return os.path.exists(os.path.join(self.data, "postmaster.pid"))

    def stop(self, mode: Literal["immediate", "fast", "smart"] = "immediate") -> None:
        """Stop the server. ``immediate`` is a crash (with fsync off, recent commits may be lost);
        ``fast`` is an orderly restart's stop: sessions are ended, every commit is kept."""
        if self.running:
            self._run(str(self.bindir / "pg_ctl"), "-D", self.data, "-m", mode, "-w", "stop")

    def cleanup(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
