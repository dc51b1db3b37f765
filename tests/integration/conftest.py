"""Fixtures of the multi-process integration tests (``sync/`` has its own)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from slabdb.testing.postgres import PostgresServer, find_pg_bin, temporary_postgres


@pytest.fixture(scope="module")
def pg_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this test module's own (its databases cannot collide)."""
    if find_pg_bin() is None:
        pytest.skip("PostgreSQL binaries missing (apt-get install postgresql)")
    with temporary_postgres() as server:
        yield server
