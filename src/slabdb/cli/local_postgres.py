"""A private PostgreSQL cluster run from Debian's binaries (``slabdb demo``, tests).

    server = PostgresServer.at(Path("demo-data/postgres"), Path("demo-data/run"), port)
    server.init()            # initdb, unless the directory already holds a cluster
    server.start()
    server.ensure_database()  # role and database, if missing

``initdb`` refuses to run as root, so as root every command runs as the ``postgres``
user (``runuser``) and the directories are handed to it. The server listens on
127.0.0.1 only, with its Unix socket in ``socket_dir``, and trusts local connections.
"""

from __future__ import annotations

import os
import pwd
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

PG_BIN_CANDIDATES = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin")
POSTGRES_USER = "postgres"
DEFAULT_ROLE = "slabdb"
DEFAULT_DATABASE = "slabdb"
START_TIMEOUT_SECONDS = 30
COMMAND_TIMEOUT_SECONDS = 60


def find_pg_bin() -> Path | None:
    """The directory of ``initdb``/``pg_ctl``, or None if PostgreSQL is not installed."""
    for candidate in PG_BIN_CANDIDATES:
        if Path(candidate, "pg_ctl").exists():
            return Path(candidate)
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_as_user() -> str | None:
    """``postgres`` when running as root (initdb refuses root), else None (ourselves)."""
    return POSTGRES_USER if os.geteuid() == 0 else None


def owned_dir(path: Path, run_as: str | None, mode: int = 0o700) -> Path:
    """Create ``path`` (if missing) for the server's user."""
    path.mkdir(parents=True, exist_ok=True, mode=mode)
    if run_as:
        user = pwd.getpwnam(run_as)
        os.chown(path, user.pw_uid, user.pw_gid)
    return path


@dataclass
class PostgresServer:
    """One cluster: its binaries, directories, port and the role/database clients use."""

    bin_dir: Path
    data_dir: Path
    socket_dir: Path
    port: int
    run_as: str | None
    database: str = DEFAULT_DATABASE
    role: str = DEFAULT_ROLE
    fast_unsafe: bool = True
    """fsync, synchronous commit and full-page writes off (test and demo data only)."""

    @classmethod
    def at(cls, data_dir: Path, socket_dir: Path, port: int, **kwargs: object) -> PostgresServer:
        """A server of Debian's binaries at ``data_dir`` (RuntimeError if not installed)."""
        bin_dir = find_pg_bin()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL binaries not found (apt-get install postgresql)")
        return cls(bin_dir, data_dir, socket_dir, port, run_as_user(), **kwargs)  # type: ignore[arg-type]

    @property
    def dsn(self) -> str:
        return (
            f"host=127.0.0.1 port={self.port} dbname={self.database} user={self.role} "
            "connect_timeout=5"
        )

    @property
    def log_path(self) -> Path:
        return self.data_dir / "server.log"

    def _cmd(self, *args: str) -> list[str]:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        return ["runuser", "-u", self.run_as, "--", *cmd] if self.run_as else cmd

    def _run(self, *args: str) -> str:
        done = subprocess.run(
            self._cmd(*args),
            check=True,
            capture_output=True,
            timeout=COMMAND_TIMEOUT_SECONDS,
            start_new_session=True,  # a Ctrl-C in the terminal reaches us, not the server
            text=True,
        )
        return done.stdout

    def _options(self) -> str:
        options = f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1"
        if self.fast_unsafe:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        return options + " -c max_connections=100"

    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def init(self) -> bool:
        """``initdb`` unless the data directory holds a cluster; True if it ran."""
        if self.initialized():
            return False
        owned_dir(self.data_dir, self.run_as)
        owned_dir(self.socket_dir, self.run_as)
        self._run(
            "initdb", "-D", str(self.data_dir), "-U", POSTGRES_USER, "--auth=trust",
            "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        return True

    def running(self) -> bool:
        """``pg_ctl status``: a live postmaster owns the data directory."""
        try:
            self._run("pg_ctl", "-D", str(self.data_dir), "status")
        except subprocess.CalledProcessError:
            return False
        return True

    def start(self) -> None:
        owned_dir(self.socket_dir, self.run_as)
        self._run(
            "pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_path), "-w",
            "-o", self._options(), "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        """``pg_ctl restart -m fast``: every client connection is cut."""
        self._run(
            "pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_path), "-m", "fast", "-w",
            "-o", self._options(), "restart",
        )  # fmt: skip

    def postmaster_pid(self) -> int | None:
        """The server's process id from ``postmaster.pid``, if the file exists."""
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run ``sql`` as the superuser over the socket; its unaligned output."""
        return self._run(
            "psql", "-h", str(self.socket_dir), "-p", str(self.port), "-U", POSTGRES_USER,
            "-d", database, "-v", "ON_ERROR_STOP=1", "-q", "-tA", "-c", sql,
        )  # fmt: skip

    def ensure_database(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        """Create the login role (superuser, password = its name) and its database, if
        missing; waits for the server to accept connections first."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                has_role = self.psql(f"SELECT 1 FROM pg_roles WHERE rolname = '{self.role}'")
                break
            except subprocess.CalledProcessError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        if not has_role.strip():
            self.psql(f"CREATE ROLE {self.role} LOGIN SUPERUSER PASSWORD '{self.role}'")
        if not self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'").strip():
            self.psql(f"CREATE DATABASE {self.database} OWNER {self.role}")
