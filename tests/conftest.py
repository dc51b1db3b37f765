"""Shared fixtures.  Keep this small; put area-specific fixtures next to their tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from slabdb.testing.s3 import MotoS3Server, moto_s3_server


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
