"""Upserts from a task are retried by the one retry policy, on retryable errors only."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pytest

from slabdb.core.errors import InvalidArgumentError, StorageError
from slabdb.core.retry import RetryPolicy, TransientError
from slabdb.spark.batches import Record
from slabdb.spark.executors import UpsertBatches
from slabdb.spark.targets import ImportState, IndexConnection, IndexTarget


class Unavailable(Exception):
    """What the SDK raises for a 503: an error carrying a transport status."""

    status_code = 503


@dataclass
class FlakyConnection(IndexConnection):
    failures: list[BaseException]
    """Raised by the next upserts, in order; then every upsert succeeds."""
    calls: list[int] = field(default_factory=list)
    stored: list[Record] = field(default_factory=list)

    def upsert(self, records: list[Record], namespace: str) -> int:
        self.calls.append(len(records))
        if self.failures:
            raise self.failures.pop(0)
        self.stored += records
        return len(records)

    def start_import(self, uri: str, error_mode: str) -> str:  # pragma: no cover
        raise NotImplementedError

    def describe_import(self, import_id: str) -> ImportState:  # pragma: no cover
        raise NotImplementedError

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class FakeTarget(IndexTarget):
    conn: FlakyConnection

    def open(self) -> IndexConnection:
        return self.conn


def _batches(n: int) -> list[pa.RecordBatch]:
    ids = [f"r{i}" for i in range(n)]
    values = pa.array([[float(i), 1.0] for i in range(n)], pa.list_(pa.float32()))
    metadata = pa.array([f'{{"i": {i}}}' for i in range(n)])
    return [pa.RecordBatch.from_arrays([pa.array(ids), values, metadata],
                                       names=["id", "values", "metadata"])]  # fmt: skip


def _run(conn: FlakyConnection, sleeps: list[float], n: int = 25) -> dict[str, int]:
    policy = RetryPolicy(max_attempts=4, initial_backoff_seconds=0.1, sleep=sleeps.append)
    step = UpsertBatches(FakeTarget(conn), namespace="ns", max_batch_records=10, retry=policy)
    (summary,) = list(step(iter(_batches(n))))
    return summary.to_pylist()[0]


def test_a_request_failing_twice_then_succeeding_is_retried() -> None:
    conn = FlakyConnection([TransientError("reset"), Unavailable("503")])
    sleeps: list[float] = []
    summary = _run(conn, sleeps)
    assert summary == {"records": 25, "requests": 3, "retries": 2}
    assert conn.calls == [10, 10, 10, 10, 5]  # the first batch three times, whole each time
    assert [r["id"] for r in conn.stored] == [f"r{i}" for i in range(25)]
    assert conn.stored[3] == {"id": "r3", "values": [3.0, 1.0], "metadata": {"i": 3}}
    assert len(sleeps) == 2 and all(0 <= s <= 0.2 for s in sleeps)  # backoff, with jitter


@pytest.mark.parametrize("error", [InvalidArgumentError("bad dimension"), ValueError("bug")])
def test_a_non_retryable_error_is_raised_at_once(error: Exception) -> None:
    conn = FlakyConnection([error])
    sleeps: list[float] = []
    with pytest.raises(type(error)):
        _run(conn, sleeps)
    assert conn.calls == [10] and sleeps == []


def test_retries_run_out() -> None:
    conn = FlakyConnection([StorageError("down")] * 4)
    sleeps: list[float] = []
    with pytest.raises(StorageError):
        _run(conn, sleeps)
    assert conn.calls == [10] * 4 and len(sleeps) == 3


def test_a_refused_connection_to_a_server_is_retryable() -> None:
    from slabdb.core.retry import is_retryable
    from slabdb.spark import ServerIndex
    from slabdb.testing.server import free_port_range

    target = ServerIndex(api_key="sdb-x", index="i", host=f"http://127.0.0.1:{free_port_range(1)}")
    with pytest.raises(TransientError) as caught:
        target.open()
    assert is_retryable(caught.value)
