"""Acceptance fixtures: a real ``slabdb serve`` subprocess per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from slabdb_server_process import ServerProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(data=Path(tmp_path_factory.mktemp("slabdb-data"))) as srv:
        yield srv
