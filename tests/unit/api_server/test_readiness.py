"""``/health?check=ready``: 503 while the object store or the catalog cannot be reached."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from slabdb.api.readiness import Readiness
from slabdb.api.serve_options import ServeOptions
from slabdb.api.server import SlabServer
from slabdb.core.errors import StorageError
from slabdb.storage.base import ObjectMeta, ObjectStore


class Switch:
    """Wraps a store's ``head``: counts probes and fails them while ``down``."""

    def __init__(self, store: ObjectStore) -> None:
        self.down = False
        self.heads = 0
        self._head = store.head
        store.head = self.head  # type: ignore[method-assign]

    def head(self, key: str) -> ObjectMeta:
        self.heads += 1
        if self.down:
            raise StorageError("connection refused")
        return self._head(key)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SlabServer]:
    srv = SlabServer(ServeOptions(data=str(tmp_path)))
    srv.first_run()
    yield srv
    srv.projects.close()


def test_ready_while_the_store_answers_and_503_naming_it_while_it_does_not(
    server: SlabServer,
) -> None:
    switch = Switch(server.store)
    server.ctx.readiness = Readiness(server.store, server.catalog, interval_seconds=0)
    http = TestClient(server.app)
    ok = http.get("/health?check=ready")
    assert ok.status_code == 200 and ok.json()["status"] == "ok"
    switch.down = True
    down = http.get("/health?check=ready")
    assert down.status_code == 503
    assert down.json()["unreachable"] == ["object store"]
    assert str(server.store.url) not in down.text  # no server path in the answer
    assert http.get("/health").status_code == 200  # liveness stays up
    switch.down = False
    assert http.get("/health?check=ready").status_code == 200
    assert http.get("/health?check=bogus").status_code == 400


def test_probes_are_cached_for_the_interval(server: SlabServer) -> None:
    switch = Switch(server.store)
    readiness = Readiness(server.store, server.catalog, interval_seconds=3600)
    assert readiness.state().ready
    switch.down = True
    assert [readiness.state().ready for _ in range(5)] == [True] * 5
    assert switch.heads == 1
    assert not Readiness(server.store, server.catalog, interval_seconds=3600).state().ready


def test_an_unreachable_catalog_is_not_ready(server: SlabServer) -> None:
    def broken() -> None:
        raise StorageError("catalog down")

    server.catalog.list_projects = broken  # type: ignore[method-assign,assignment]
    state = Readiness(server.store, server.catalog, interval_seconds=0).state()
    assert not state.ready and state.failing == ("control catalog",)
