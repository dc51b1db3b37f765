"""Catalog backends for the control-plane unit tests: SQLite, and a real PostgreSQL 15
(Debian's binaries on a loopback port, one fresh database per test; skipped if absent)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from slabdb.testing.postgres import TEST_ROLE, PostgresServer, find_pg_bin, temporary_postgres

_db_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    if find_pg_bin() is None:
        pytest.skip("PostgreSQL binaries missing (apt-get install postgresql)")
    with temporary_postgres() as server:
        yield server


@pytest.fixture
def pg_catalog_url(pg_server: PostgresServer) -> str:
    """``postgresql://`` URL of a fresh, empty database."""
    name = f"cat{os.getpid()}_{next(_db_counter)}"
    pg_server.psql(f"CREATE DATABASE {name} OWNER {TEST_ROLE}")
    return f"postgresql://{TEST_ROLE}@127.0.0.1:{pg_server.port}/{name}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh catalog of each backend."""
    if request.param == "sqlite":
        return str(tmp_path / "c.sqlite3")
    make: Callable[[], str] = lambda: request.getfixturevalue("pg_catalog_url")  # noqa: E731
    return make()
