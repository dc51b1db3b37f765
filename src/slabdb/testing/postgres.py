"""A throwaway PostgreSQL server for tests and benchmarks: Debian's binaries, a free port.

    with temporary_postgres() as pg:
        conn = psycopg.connect(pg.dsn)

The cluster lives in a fresh temporary directory owned by the ``postgres`` user when
running as root (``initdb`` refuses to run as root), listens on 127.0.0.1 only, trusts
local connections, and is stopped and deleted on exit. :meth:`PostgresServer.restart`
runs ``pg_ctl restart`` for crash tests.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

PG_BIN_CANDIDATES = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin")
TEST_DATABASE = "slabdb_test"
TEST_ROLE = "slabdb"
START_TIMEOUT_SECONDS = 30


def find_pg_bin() -> Path | None:
    """The directory of ``initdb``/``pg_ctl``, or None if PostgreSQL is not installed."""
    for candidate in PG_BIN_CANDIDATES:
        if Path(candidate, "pg_ctl").exists():
            return Path(candidate)
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    """A running test cluster."""

    bin_dir: Path
    data_dir: Path
    socket_dir: Path
    port: int
    run_as: str | None

    @property
    def dsn(self) -> str:
        return (
            f"host=127.0.0.1 port={self.port} dbname={TEST_DATABASE} user={TEST_ROLE} "
            "connect_timeout=5"
        )

    def _cmd(self, *args: str) -> list[str]:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        return ["runuser", "-u", self.run_as, "--", *cmd] if self.run_as else cmd

    def _run(self, *args: str) -> None:
        subprocess.run(self._cmd(*args), check=True, capture_output=True, timeout=60)

    def _options(self) -> str:
        return (
            f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=100"
        )

    def start(self) -> None:
        log = self.data_dir / "server.log"
        self._run(
            "pg_ctl", "-D", str(self.data_dir), "-l", str(log), "-w", "-o", self._options(), "start"
        )

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        """``pg_ctl restart -m fast``: every client connection is cut."""
        log = self.data_dir / "server.log"
        self._run(
            "pg_ctl", "-D", str(self.data_dir), "-l", str(log), "-m", "fast", "-w",
            "-o", self._options(), "restart",
        )  # fmt: skip

    def psql(self, sql: str, database: str = "postgres") -> None:
        self._run(
            "psql", "-h", str(self.socket_dir), "-p", str(self.port), "-U", "postgres",
            "-d", database, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql,
        )  # fmt: skip


@contextmanager
def temporary_postgres() -> Iterator[PostgresServer]:
    """Start a private cluster with database ``slabdb_test`` owned by role ``slabdb``."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL binaries not found (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="slabdb-pg-"))
    run_as: str | None = None
    if os.geteuid() == 0:
        run_as = "postgres"
        user = pwd.getpwnam(run_as)
        os.chmod(root, 0o755)
        os.chown(root, user.pw_uid, user.pw_gid)
    data_dir, socket_dir = root / "data", root / "sock"
    server = PostgresServer(bin_dir, data_dir, socket_dir, _free_port(), run_as)
    for d in (data_dir, socket_dir):
        d.mkdir()
        if run_as:
            user = pwd.getpwnam(run_as)
            os.chown(d, user.pw_uid, user.pw_gid)
    try:
        server._run(
            "initdb", "-D", str(data_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8",
            "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        server.start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            try:
                server.psql(f"CREATE ROLE {TEST_ROLE} LOGIN SUPERUSER PASSWORD 'slabdb'")
                break
            except subprocess.CalledProcessError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        server.psql(f"CREATE DATABASE {TEST_DATABASE} OWNER {TEST_ROLE}")
        yield server
    finally:
        with suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired, FileNotFoundError):
            server.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
