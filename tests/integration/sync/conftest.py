"""A real PostgreSQL 15 for the sync tests (Debian's binaries on a free loopback port),
one fresh database per test, and helpers to set up a synced ``products`` table."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from slabdb.core.retry import RetryPolicy
from slabdb.embed import register, unregister
from slabdb.sync import (
    EmbeddedTarget,
    OutboxRetryPolicy,
    SyncConfig,
    SyncWorker,
    WorkerSettings,
    bootstrap,
    init_sync,
    verify_sync,
)
from slabdb.sync.setup import open_target
from slabdb.testing.embedders import FakeEmbedder
from slabdb.testing.postgres import PostgresServer, install_pg_bin_as_root, temporary_postgres

ROOT = Path(__file__).resolve().parents[3]
DIM = 16
FAST_RETRY = OutboxRetryPolicy(
    max_attempts=3, initial_backoff_seconds=0.01, max_backoff_seconds=0.05
)
FAST_SETTINGS = WorkerSettings(
    batch_keys=32,
    poll_interval_seconds=0.2,
    reconnect=RetryPolicy(initial_backoff_seconds=0.2, max_backoff_seconds=0.2, jitter=False),
    retry=FAST_RETRY,
)
_db_counter = itertools.count()


@pytest.fixture(autouse=True)
def fake_embedder_by_name() -> Iterator[None]:
    """These syncs name the test-only ``fake`` embedder, which production does not register."""
    register("fake", "slabdb.testing.embedders:FakeEmbedder", replace=True)
    yield
    unregister("fake")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    if not install_pg_bin_as_root(ROOT / "scripts" / "system-deps.sh"):
        pytest.skip("PostgreSQL 15 binaries missing (apt-get install postgresql) and not root")
    with temporary_postgres() as server:
        yield server


@pytest.fixture
def pg_dsn(pg_server: PostgresServer) -> str:
    """A fresh, empty database for one test."""
    name = f"t{os.getpid()}_{next(_db_counter)}"
    with psycopg.connect(pg_server.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
    return pg_server.dsn.replace("dbname=slabdb_test", f"dbname={name}")


PRODUCTS_DDL = """
CREATE TABLE products (
    id          integer PRIMARY KEY,
    name        text NOT NULL,
    description text,
    category    text,
    price       numeric(10, 2),
    stock       integer NOT NULL DEFAULT 0
)
"""


def seed_products(dsn: str, rows: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(PRODUCTS_DDL)  # type: ignore[arg-type]
        conn.execute(
            "INSERT INTO products (id, name, description, category, price)"
            " SELECT g, 'product ' || g, 'a fine thing number ' || g,"
            " (ARRAY['tools','toys','books'])[1 + g %% 3], g * 1.25 FROM generate_series(1, %s) g",
            (rows,),
        )


@dataclass
class SyncEnv:
    dsn: str
    data: str
    cfg: SyncConfig
    embedder: FakeEmbedder

    def worker(
        self, settings: WorkerSettings = FAST_SETTINGS, embedder: object = None
    ) -> SyncWorker:
        target = open_target(self.cfg, self.data)
        return SyncWorker(self.dsn, self.cfg, embedder or self.embedder, target, settings)  # type: ignore[arg-type]

    def drain(self, **kwargs: object) -> int:
        worker = self.worker(**kwargs)  # type: ignore[arg-type]
        try:
            return worker.drain(until_empty=True, timeout_seconds=60)
        finally:
            worker.close()
            worker.processor.target.close()

    def sql(self, statement: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            cur = conn.execute(statement, params)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []

    def assert_in_sync(self) -> None:
        target = EmbeddedTarget(self.data, self.cfg.index)
        try:
            with psycopg.connect(self.dsn) as conn:
                report = verify_sync(conn, self.cfg, target, FakeEmbedder(DIM))
        finally:
            target.close()
        assert report.ok, report.summary()

    def fetch(self, *ids: str) -> dict[str, tuple[object, dict[str, object]]]:
        target = EmbeddedTarget(self.data, self.cfg.index)
        try:
            return dict(target.fetch(list(ids)))
        finally:
            target.close()

    def ids(self) -> set[str]:
        target = EmbeddedTarget(self.data, self.cfg.index)
        try:
            return set(target.list_ids(""))
        finally:
            target.close()


@pytest.fixture
def make_env(pg_dsn: str, tmp_path: Path) -> Callable[..., SyncEnv]:
    def make(
        rows: int = 50,
        embedder: str = "fake",
        options: dict[str, object] | None = None,
        enqueue_existing: bool = True,
        **kw: object,
    ) -> SyncEnv:
        seed_products(pg_dsn, rows)
        data = str(tmp_path / "slabdb")
        cfg = init_sync(
            pg_dsn,
            table="products",
            key="id",
            template="{name}: {description}",
            index="products",
            metadata=["category", "price"],
            data=data,
            embedder=embedder,
            embedder_options=options or {"dimension": DIM},
            **kw,  # type: ignore[arg-type]
        )
        if enqueue_existing:
            with psycopg.connect(pg_dsn, autocommit=True) as conn:
                bootstrap(conn, cfg)
        return SyncEnv(pg_dsn, data, cfg, FakeEmbedder(DIM))

    return make
