"""Nothing is lost or left stale: workers down, a worker SIGKILLed mid-batch, Postgres
restarted, two workers hammering the same keys. Afterwards every row is compared."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from scenarios.sync_locks import keys_being_processed
from scenarios.waiting import wait_until
from slabdb.sync import WorkerPool
from slabdb.testing.postgres import PostgresServer

Env = Any
SLOW_EMBEDDER = "slabdb.testing.sync_embedders:SlowFakeEmbedder"


def random_edits(dsn: str, count: int, keys: int, seed: int, first_new_key: int = 10_000) -> None:
    """Updates, deletes, inserts and key changes over ``keys`` keys, in small transactions."""
    rng = random.Random(seed)
    next_key = first_new_key + seed * 100_000
    with psycopg.connect(dsn, autocommit=True) as conn:
        for i in range(count):
            k = rng.randint(1, keys)
            kind = rng.random()
            if kind < 0.6:
                conn.execute(
                    "UPDATE products SET description = %s, price = %s WHERE id = %s",
                    (
                        f"edit {i} seed {seed} " + "word " * rng.randint(0, 400),
                        rng.randint(1, 99),
                        k,
                    ),
                )
            elif kind < 0.75:
                conn.execute("DELETE FROM products WHERE id = %s", (k,))
            elif kind < 0.9:
                conn.execute(
                    "INSERT INTO products (id, name, description, category) VALUES (%s, %s, %s, 'new')"
                    " ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name",
                    (k, f"re-added {i}", f"back {i}"),
                )
            else:
                next_key += 1
                conn.execute("UPDATE products SET id = %s WHERE id = %s", (next_key, k))


def test_edits_while_workers_are_down(make_env: Callable[..., Env]) -> None:
    env = make_env(rows=200)
    env.drain()
    random_edits(env.dsn, 1000, keys=200, seed=1)
    env.drain()
    env.assert_in_sync()


def _count(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM slabdb_sync.outbox").fetchone()
        return int(row[0]) if row else 0


def test_worker_sigkilled_mid_batch(make_env: Callable[..., Env]) -> None:
    env = make_env(
        rows=600,
        embedder=SLOW_EMBEDDER,
        options={"dimension": 16, "delay_seconds": 0.1, "batch_size": 8},
    )
    total = _count(env.dsn)
    proc = subprocess.Popen(
        [sys.executable, "-m", "slabdb.cli", "sync", "run", "--dsn", env.dsn, "--name", "products",
         "--batch-keys", "32", "--poll-interval", "0.2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip

    def committed_some_and_holds_a_batch() -> bool:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        return _count(env.dsn) <= total - 100 and keys_being_processed(env.dsn) > 0

    try:
        wait_until(committed_some_and_holds_a_batch, "some batches committed, one in flight", 60)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    left = _count(env.dsn)
    assert 0 < left < total
    random_edits(env.dsn, 100, keys=600, seed=2)
    env.drain()
    env.assert_in_sync()


def test_postgres_restart_while_workers_run(
    make_env: Callable[..., Env], pg_server: PostgresServer
) -> None:
    env = make_env(rows=100)
    with WorkerPool(lambda: env.worker(), threads=2) as pool:
        random_edits(env.dsn, 150, keys=100, seed=3)
        pg_server.restart()
        random_edits(env.dsn, 150, keys=100, seed=4)
        wait_until(lambda: _count(env.dsn) == 0, "workers drained the outbox after the restart", 60)
        assert not pool.stop_event.is_set()
    env.drain()
    env.assert_in_sync()


@pytest.mark.parametrize("seed", [5])
def test_two_workers_hammering_the_same_keys(make_env: Callable[..., Env], seed: int) -> None:
    env = make_env(rows=20)
    errors: list[BaseException] = []

    def editor(s: int) -> None:
        try:
            random_edits(env.dsn, 300, keys=20, seed=s)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    with WorkerPool(lambda: env.worker(), threads=2):
        editors = [threading.Thread(target=editor, args=(seed + i,)) for i in range(2)]
        for t in editors:
            t.start()
        for t in editors:
            t.join()
        wait_until(lambda: _count(env.dsn) == 0, "the workers drained the outbox", 60)
    assert not errors
    env.assert_in_sync()
