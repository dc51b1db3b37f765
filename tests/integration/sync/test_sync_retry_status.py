"""Retries, the errors table, retry-errors, and the status figures and metrics."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from typing import Any

import psycopg

from slabdb.embed.base import EmbeddingUnavailableError
from slabdb.sync import SyncMetrics, read_status
from slabdb.sync.outbox import OutboxQueue
from slabdb.testing.embedders import FakeEmbedder, FlakyEmbedder
from slabdb.testing.sync_embedders import PoisonEmbedder

Env = Any


def test_intermittent_embedder_failures_are_retried(make_env: Callable[..., Env]) -> None:
    env = make_env(rows=40)
    flaky = FlakyEmbedder(FakeEmbedder(16), failures=2, error=EmbeddingUnavailableError("503"))
    env.drain(embedder=flaky)
    assert flaky.failures_left == 0
    assert env.sql("SELECT count(*) FROM slabdb_sync.errors") == [(0,)]
    env.assert_in_sync()


def test_permanent_failures_go_to_errors_without_blocking_others(
    make_env: Callable[..., Env],
) -> None:
    env = make_env(rows=30)
    env.sql("UPDATE products SET description = 'POISON pill' WHERE id IN (4, 17)")
    env.drain(embedder=PoisonEmbedder(16))
    errors = env.sql("SELECT key, reason FROM slabdb_sync.errors ORDER BY key::int")
    assert [e[0] for e in errors] == ["4", "17"]
    assert "EmbeddingRejectedError" in str(errors[0][1])
    assert len(env.ids()) == 28  # every other row is synced

    # Transient failures that never end also land there, after max_attempts.
    env.sql("UPDATE products SET description = 'POISON again' WHERE id = 5")
    env.drain(embedder=PoisonEmbedder(16, transient=True))
    attempts = env.sql("SELECT attempts FROM slabdb_sync.errors WHERE key = '5'")
    assert attempts == [(3,)]

    with psycopg.connect(env.dsn) as conn, conn.transaction():
        assert OutboxQueue("products").retry_errors(conn) == 3
    assert env.sql("SELECT count(*) FROM slabdb_sync.errors") == [(0,)]
    env.drain()  # the backend is fixed
    env.assert_in_sync()


def test_status_and_metrics(make_env: Callable[..., Env]) -> None:
    env = make_env(rows=25)
    with psycopg.connect(env.dsn) as conn:
        [before] = read_status(conn, "products")
    assert before.pending == 25 and before.lag_seconds >= 0 and before.errors == 0
    metrics = SyncMetrics("products", env.dsn)
    worker = env.worker()
    worker.metrics = metrics
    try:
        worker.drain()
    finally:
        worker.close()
        worker.processor.target.close()
    with psycopg.connect(env.dsn) as conn:
        [after] = read_status(conn, "products")
    assert after.pending == 0 and after.lag_seconds == 0
    assert after.processed_total == 25 and after.embedded_total == 25
    assert after.events_per_second > 0 and after.bootstrapped
    server = metrics.serve(0)
    try:
        port = server.server_port
        body = (
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        )
    finally:
        server.shutdown()
    assert 'slabdb_sync_pending_events{sync="products"} 0.0' in body
    assert 'slabdb_sync_keys_processed_total{result="embedded",sync="products"} 25.0' in body
    assert "slabdb_sync_lag_seconds" in body and "slabdb_sync_batch_seconds_bucket" in body
