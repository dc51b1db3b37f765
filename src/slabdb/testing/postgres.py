"""A throwaway PostgreSQL server for tests and benchmarks: Debian's binaries, a free port.

    with temporary_postgres() as pg:
        conn = psycopg.connect(pg.dsn)

The cluster (:class:`~slabdb.cli.local_postgres.PostgresServer`, the one ``slabdb demo``
runs) lives in a fresh temporary directory owned by the ``postgres`` user when running as
root (``initdb`` refuses to run as root), listens on 127.0.0.1 only, trusts local
connections, and is stopped and deleted on exit. :meth:`PostgresServer.restart` runs
``pg_ctl restart`` for crash tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from slabdb.cli.local_postgres import PostgresServer, find_pg_bin, free_port, run_as_user

__all__ = [
    "TEST_DATABASE",
    "TEST_ROLE",
    "PostgresServer",
    "find_pg_bin",
    "install_pg_bin_as_root",
    "temporary_postgres",
]

TEST_DATABASE = "slabdb_test"
TEST_ROLE = "slabdb"


def install_pg_bin_as_root(install_script: Path) -> bool:
    """Whether Debian's PostgreSQL binaries are there, running ``install_script``
    (``scripts/system-deps.sh``) first when they are not and this process is root."""
    if find_pg_bin() is not None:
        return True
    if os.geteuid() != 0:
        return False
    subprocess.run(["bash", str(install_script)], check=True)
    return True


@contextmanager
def temporary_postgres() -> Iterator[PostgresServer]:
    """Start a private cluster with database ``slabdb_test`` owned by role ``slabdb``."""
    root = Path(tempfile.mkdtemp(prefix="slabdb-pg-"))
    os.chmod(root, 0o755)
    server = PostgresServer.at(
        root / "data", root / "sock", free_port(), database=TEST_DATABASE, role=TEST_ROLE
    )
    assert server.run_as == run_as_user()
    try:
        server.init()
        server.start()
        server.ensure_database()
        yield server
    finally:
        with suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired, FileNotFoundError):
            server.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
