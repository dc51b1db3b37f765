"""The SQS queue backend against moto's SQS server: relay → queue → consumers → index,
duplicates, a consumer killed mid-batch, failures → errors table, and the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from scenarios.sync_locks import keys_being_processed
from scenarios.waiting import wait_until
from slabdb.cli.main import app
from slabdb.sync import OutboxRetryPolicy, WorkerSettings
from slabdb.sync.setup import open_target
from slabdb.sync.sqs import SqsConsumer, SqsRelay, SqsSettings, encode_message
from slabdb.sync.target import SyncTarget, TargetBatch
from slabdb.testing.sqs import MotoSqsServer, moto_sqs_server
from slabdb.testing.sync_embedders import PoisonEmbedder

Env = Any
SETTINGS = WorkerSettings(
    batch_keys=32,
    poll_interval_seconds=0.2,
    retry=OutboxRetryPolicy(max_attempts=2, initial_backoff_seconds=0.01, max_backoff_seconds=0.05),
)


@pytest.fixture(scope="module")
def sqs() -> Iterator[MotoSqsServer]:
    with moto_sqs_server() as server:
        yield server


class Killed(BaseException):
    """Stands for SIGKILL: nothing after the raise runs, no handler catches it."""


class DyingTarget(SyncTarget):
    def __init__(self, inner: SyncTarget) -> None:
        self.inner = inner

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def write(self, batch: TargetBatch) -> None:
        raise Killed

    def fetch(self, ids: Any) -> Any:
        return self.inner.fetch(ids)

    def list_ids(self, prefix: str) -> list[str]:
        return self.inner.list_ids(prefix)


def _pending(env: Env) -> int:
    return int(env.sql("SELECT count(*) FROM slabdb_sync.outbox")[0][0])


def _queue_size(sqs: MotoSqsServer, url: str) -> int:
    attrs = sqs.client().get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )


def _consumer(env: Env, sqs: MotoSqsServer, url: str, **kw: Any) -> SqsConsumer:
    target = kw.pop("target", None) or open_target(env.cfg, env.data)
    embedder = kw.pop("embedder", None) or env.embedder
    return SqsConsumer(
        env.dsn, env.cfg, embedder, target, sqs.client(),
        SqsSettings(url, wait_seconds=kw.pop("wait_seconds", 0), **kw), SETTINGS,
    )  # fmt: skip


def _round(env: Env, sqs: MotoSqsServer, url: str, **kw: Any) -> None:
    relay = SqsRelay(env.dsn, env.cfg, sqs.client(), url, SETTINGS)
    consumer = _consumer(env, sqs, url, **kw)
    try:
        relay.drain()
        consumer.drain(until_empty=True, timeout_seconds=30)
    finally:
        relay.close()
        consumer.close()
        consumer.processor.target.close()


@pytest.mark.parametrize("fifo", [False, True])
def test_changes_reach_the_index_through_sqs(
    make_env: Callable[..., Env], sqs: MotoSqsServer, fifo: bool
) -> None:
    env = make_env(rows=30)
    url = sqs.create_queue(fifo=fifo)
    _round(env, sqs, url)
    env.assert_in_sync()
    assert _pending(env) == 0 and _queue_size(sqs, url) == 0
    with psycopg.connect(env.dsn, autocommit=True) as conn:
        for i in range(1, 6):  # several events per key: one message per key
            conn.execute("UPDATE products SET description = %s WHERE id = 1", (f"v{i}",))
        conn.execute("UPDATE products SET category = 'garden' WHERE id = 2")
        conn.execute("DELETE FROM products WHERE id = 3")
        conn.execute("INSERT INTO products (id, name, description) VALUES (99, 'n', 'new row')")
        conn.execute("UPDATE products SET id = 500 WHERE id = 4")
    _round(env, sqs, url)
    env.assert_in_sync()
    assert "3#0" not in env.ids() and "500#0" in env.ids()
    assert _pending(env) == 0 and _queue_size(sqs, url) == 0


def test_duplicates_are_dropped_and_nothing_waits_for_a_lost_message(
    make_env: Callable[..., Env], sqs: MotoSqsServer
) -> None:
    env = make_env(rows=5)
    url = sqs.create_queue()
    _round(env, sqs, url)
    client = sqs.client()
    client.send_message(QueueUrl=url, MessageBody=encode_message(env.cfg.name, "1", [1, 2]))
    _round(env, sqs, url)
    assert _queue_size(sqs, url) == 0
    # Relayed, then the message vanished (purge, retention): sent again after resend_after.
    env.sql("UPDATE products SET name = 'lost' WHERE id = 5")
    relay = SqsRelay(env.dsn, env.cfg, client, url, SETTINGS, resend_after_seconds=0.2)
    assert relay.drain() == 1
    client.purge_queue(QueueUrl=url)
    assert relay.drain() == 0
    env.sql("UPDATE slabdb_sync.outbox SET relayed_at = now() - interval '1 second'")
    assert relay.drain() == 1
    relay.close()
    _round(env, sqs, url)
    env.assert_in_sync()


def test_consumer_killed_mid_batch_loses_nothing(
    make_env: Callable[..., Env], sqs: MotoSqsServer
) -> None:
    env = make_env(rows=8)  # one receive takes every message
    url = sqs.create_queue(visibility_timeout=1)
    relay = SqsRelay(env.dsn, env.cfg, sqs.client(), url, SETTINGS)
    assert relay.drain() == 8
    relay.close()
    inner = open_target(env.cfg, env.data)
    doomed = _consumer(env, sqs, url, target=DyingTarget(inner))
    with pytest.raises(Killed):
        doomed.run_batch()
    doomed._conn = None  # abandon the connection like a dead process would (no commit)
    assert _pending(env) == 8
    client = sqs.client()
    assert not client.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages")
    _round(env, sqs, url, wait_seconds=1)  # messages reappear after the visibility timeout
    env.assert_in_sync()
    assert _pending(env) == 0 and _queue_size(sqs, url) == 0
    doomed.close()
    inner.close()


def test_consumer_process_sigkilled_mid_batch(
    make_env: Callable[..., Env], sqs: MotoSqsServer
) -> None:
    env = make_env(
        rows=60,
        embedder="slabdb.testing.sync_embedders:SlowFakeEmbedder",
        options={"dimension": 16, "delay_seconds": 0.1, "batch_size": 4},
    )
    url = sqs.create_queue(visibility_timeout=2)
    relay = SqsRelay(env.dsn, env.cfg, sqs.client(), url, SETTINGS)
    assert relay.drain() == 60
    relay.close()
    proc = subprocess.Popen(
        [sys.executable, "-m", "slabdb.cli", "sync", "run", "--dsn", env.dsn, "--queue", "sqs",
         "--queue-url", url, "--wait-seconds", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, **sqs.env},
    )  # fmt: skip

    def committed_some_and_holds_a_batch() -> bool:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        return _pending(env) <= 40 and keys_being_processed(env.dsn) > 0

    try:
        wait_until(committed_some_and_holds_a_batch, "some batches committed, one in flight", 60)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert 0 < _pending(env) < 60
    _round(env, sqs, url, wait_seconds=1)
    env.assert_in_sync()
    assert _pending(env) == 0 and _queue_size(sqs, url) == 0


def test_failing_key_goes_to_errors_and_the_rest_syncs(
    make_env: Callable[..., Env], sqs: MotoSqsServer
) -> None:
    env = make_env(rows=6)
    env.sql("UPDATE products SET description = 'POISON' WHERE id = 2")
    url = sqs.create_queue(visibility_timeout=1)
    _round(env, sqs, url, embedder=PoisonEmbedder(16, transient=True), wait_seconds=1)
    errors = env.sql("SELECT key, attempts FROM slabdb_sync.errors")
    assert errors == [("2", 2)]
    assert _pending(env) == 0 and _queue_size(sqs, url) == 0
    assert "1#0" in env.ids() and "2#0" not in env.ids()


def test_cli_relay_and_run_queue_sqs(
    make_env: Callable[..., Env], sqs: MotoSqsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in sqs.env.items():
        monkeypatch.setenv(k, v)
    env = make_env(rows=12)
    url = sqs.create_queue()
    runner = CliRunner()
    base = ["--dsn", env.dsn]
    res = runner.invoke(app, ["sync", "relay", *base, "--queue-url", url, "--once"])
    assert res.exit_code == 0 and "relayed 12 events" in res.output, res.output
    res = runner.invoke(app, ["sync", "run", *base, "--queue", "sqs", "--queue-url", url, "--once"])
    assert res.exit_code == 0 and "processed 12 keys" in res.output, res.output
    env.assert_in_sync()
    status = json.loads(runner.invoke(app, ["sync", "status", *base, "--json"]).output)
    assert status[0]["pending"] == 0
