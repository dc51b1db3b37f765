"""``benchmarks/api.py`` measures the server, not its own client: a failed query fails
the run instead of silently dropping a thread's queries, every phase reports its CPU
per query and its slowest query, and the SDK keeps one idle REST connection per
client thread (below that, httpcore's pool churns a connection per request and can
stall a request for the SDK's 30 s timeout, encode/httpcore#1110).

No timing assertions: only structure."""

from __future__ import annotations

import importlib.util
import itertools
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

API_BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "api.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("api_benchmark", API_BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


QUERIES = np.zeros((4, 2), dtype=np.float32)


def test_a_failing_query_fails_the_load(bench: ModuleType) -> None:
    calls = itertools.count()

    def query(_: np.ndarray) -> None:
        if next(calls) == 5:
            raise ConnectionError("the server went away")

    with pytest.raises(ConnectionError, match="went away"):
        bench.query_load(query, QUERIES, clients=4, seconds=0.2)


def test_a_load_reports_cpu_per_query_and_its_slowest_query(bench: ModuleType) -> None:
    out: dict[str, Any] = bench.query_load(
        lambda q: q.sum(), QUERIES, clients=2, seconds=0.1, server_pid=os.getpid()
    )
    assert out["queries"] > 0 and out["qps"] > 0
    assert out["max_ms"] >= out["p99_ms"] >= out["p50_ms"]
    assert out["wall_s"] >= 0.1
    assert set(out["cpu_ms_per_query"]) == {"server", "benchmark_process"}


def test_the_sdk_keeps_an_idle_rest_connection_per_client_thread(bench: ModuleType) -> None:
    index = bench.sdk_client("sdb-key", 1).Index(host="http://127.0.0.1:2")
    pool = index._http._client._transport._transport._pool  # the SDK's httpcore pool
    assert pool._max_keepalive_connections >= max(bench.CONCURRENCY)


def test_query_phases_take_turns_round_by_round(bench: ModuleType) -> None:
    seen: list[str] = []

    def phase(name: str) -> Any:
        def query(_: np.ndarray) -> None:
            if not seen or seen[-1] != name:
                seen.append(name)

        return query

    phases = {"c1": (phase("c1"), 1), "c8": (phase("c8"), 2)}
    out = bench.measure_queries(phases, QUERIES, rounds=3, seconds=0.05)
    assert seen == ["c1", "c8"] * 3
    assert [len(out[name]["qps_rounds"]) for name in phases] == [3, 3]
    assert all(out[name]["qps"] in out[name]["qps_rounds"] for name in phases)
