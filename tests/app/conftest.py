"""The app's real stack for browser tests: Debian's PostgreSQL 15, an embedded SlabDB, the
sync workers and the web app (uvicorn in a thread), over a few hundred demo rows."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from slabdb.app import AppSettings, Services, create_app
from slabdb.app.catalog import ProductStore
from slabdb.app.freshness import FreshnessTracker
from slabdb.app.index import SearchIndex
from slabdb.app.pipeline import ProductShape, open_workers, setup
from slabdb.app.search import Searcher
from slabdb.app.sparse import BM25Encoder
from slabdb.app.status import read_panel
from slabdb.embed.base import Embedder
from slabdb.sync import WorkerPool, WorkerSettings
from slabdb.testing.app import ThreadedServer, demo_sample, write_snapshot
from slabdb.testing.postgres import PostgresServer, install_pg_bin_as_root, temporary_postgres

ROOT = Path(__file__).resolve().parents[2]
FAST_WORKERS = WorkerSettings(poll_interval_seconds=0.5)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    if not install_pg_bin_as_root(ROOT / "scripts" / "system-deps.sh"):
        pytest.skip("PostgreSQL 15 binaries missing (apt-get install postgresql) and not root")
    with temporary_postgres() as server:
        yield server


@pytest.fixture(scope="session")
def minilm() -> Embedder:
    from slabdb.embed import registry

    return registry.get_embedder("minilm")


@dataclass
class Stack:
    url: str
    dsn: str
    pg: PostgresServer
    index: SearchIndex
    services: Services
    encoder: BM25Encoder
    embedder: Embedder
    pool: WorkerPool | None = None

    def start_workers(self) -> None:
        """A fresh pool of one in-process sync worker (a stopped pool cannot restart)."""
        self.pool = open_workers(
            self.dsn,
            self.index,
            self.encoder,
            threads=1,
            embedder=self.embedder,
            make_settings=lambda: FAST_WORKERS,
        )
        self.pool.start()

    def sql(self, statement: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            cur = conn.execute(statement, params)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []


@pytest.fixture(scope="module")
def stack(
    pg_server: PostgresServer, minilm: Embedder, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """Postgres products → sync workers (in-process) → embedded SlabDB ← web app."""
    tmp = tmp_path_factory.mktemp("app-stack")
    name = f"app_{os.getpid()}_{int(time.monotonic() * 1000) % 100000}"
    with psycopg.connect(pg_server.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
    dsn = pg_server.dsn.replace("dbname=slabdb_test", f"dbname={name}")
    snapshot = write_snapshot(tmp / "products.jsonl.gz", demo_sample())
    index = SearchIndex.embedded(str(tmp / "slabdb"), "products")
    bm25 = tmp / "bm25.json.gz"
    _, encoder = setup(
        dsn, index, snapshot=snapshot, encoder_path=bm25, embedder=minilm, data=str(tmp)
    )
    settings = AppSettings(dsn=dsn, slabdb_data=str(tmp / "slabdb"), bm25_path=bm25)
    services = Services(
        store=ProductStore(dsn),
        index=index,
        searcher=Searcher(index, lambda: minilm, lambda: encoder),
        tracker=FreshnessTracker(index),
        shape=ProductShape(),
        panel=lambda: read_panel(dsn, "products", index),
    )
    with ThreadedServer(create_app(settings, services)) as server:
        stack = Stack(server.url, dsn, pg_server, index, services, encoder, minilm)
        stack.start_workers()
        try:
            wait_until_synced(stack)
            yield stack
        finally:
            if stack.pool is not None:
                stack.pool.stop()
    index.close()


def wait_until_synced(stack: Stack, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        pending = stack.sql(
            "SELECT count(*) FROM slabdb_sync.outbox WHERE sync = %s", ("products",)
        )[0][0]
        if pending == 0:
            return
        assert time.monotonic() < deadline, f"{pending} events still pending"
        time.sleep(0.2)
