"""Shared fixtures and markers.  Keep this small; put area-specific fixtures next to their tests.

Markers by what a test needs, so ``make test-fast`` can leave the expensive ones out:

* ``postgres``: the test uses a ``pg_server`` fixture (directly or through another fixture);
* ``server``: the test is under ``tests/acceptance/`` (each starts ``slabdb serve``
  subprocesses) unless marked ``embedded``, or it uses a fixture named ``server``;
* ``spark``: the test is under ``tests/spark/`` (a local[2] SparkSession);
* ``bench``, ``slow``, ``s3``: set by the tests themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from slabdb.testing.s3 import MotoS3Server, moto_s3_server

ACCEPTANCE = Path(__file__).parent / "acceptance"
SPARK = Path(__file__).parent / "spark"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if "pg_server" in fixtures:
            item.add_marker(pytest.mark.postgres)
        in_acceptance = item.path.is_relative_to(ACCEPTANCE)
        if "server" in fixtures or (in_acceptance and not item.get_closest_marker("embedded")):
            item.add_marker(pytest.mark.server)
        if item.path.is_relative_to(SPARK):
            item.add_marker(pytest.mark.spark)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[MotoS3Server]:
    """One moto S3 server (with a bucket) for the whole test session."""
    with moto_s3_server() as server:
        yield server


@pytest.fixture
def s3_url(s3_server: MotoS3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh ``s3://bucket/<unique prefix>``; the AWS_* env points at moto, so
    ``open_store(s3_url)`` just works."""
    for name in ("SLABDB_S3_ENDPOINT", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    return s3_server.unique_url()
