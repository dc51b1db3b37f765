"""One thread budget: the query pool times BLAS threads never exceeds the cores; and the
GIL switch interval a client sets for its lifetime."""

from __future__ import annotations

import sys
import threading
from dataclasses import replace
from typing import Any

import faiss
import numpy as np
import pytest
from threadpoolctl import threadpool_info

from slabdb import EngineConfig
from slabdb.client import Client
from slabdb.client.client import thread_budget
from slabdb.engine.view import NamespaceView
from slabdb.storage import open_store


def test_budget_gives_one_blas_thread_per_pool_thread_on_all_cores() -> None:
    assert thread_budget(0, cores=2) == (2, 1)
    assert thread_budget(0, cores=8) == (8, 1)
    assert thread_budget(1, cores=8) == (1, 8)
    assert thread_budget(2, cores=8) == (2, 4)
    assert thread_budget(4, cores=2) == (4, 1)


def blas_threads() -> set[int]:
    return {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}


def test_blas_is_limited_while_a_client_is_open_and_restored_after() -> None:
    before = blas_threads()
    config = EngineConfig(background=False, query_threads=0)
    pool, blas = thread_budget(0)
    first = Client(open_store("memory://"), config)
    second = Client(open_store("memory://"), config)
    assert first.executor._max_workers == pool  # type: ignore[attr-defined]
    assert blas_threads() == {blas}
    first.close()
    assert blas_threads() == {blas}, "still limited while another client is open"
    second.close()
    assert blas_threads() == before


def test_the_gil_switch_interval_is_set_while_a_client_is_open_and_restored_after() -> None:
    before = sys.getswitchinterval()
    config = EngineConfig(background=False, switch_interval_seconds=0.0005)
    first = Client(open_store("memory://"), config)
    second = Client(open_store("memory://"), replace(config, switch_interval_seconds=0.002))
    assert sys.getswitchinterval() == pytest.approx(0.0005)  # the first client's value
    first.close()
    assert sys.getswitchinterval() == pytest.approx(0.0005), "kept while a client is open"
    second.close()
    assert sys.getswitchinterval() == pytest.approx(before)
    untouched = Client(open_store("memory://"), replace(config, switch_interval_seconds=0))
    assert sys.getswitchinterval() == pytest.approx(before)
    untouched.close()


def _served_index(query_threads: int) -> tuple[Client, Any]:
    client = Client(
        open_store("memory://"), EngineConfig(background=False, query_threads=query_threads)
    )
    client.create_index(name="t", dimension=4, metric="cosine")
    index = client.Index("t")
    index.upsert(vectors=[(f"r{i}", [1.0, float(i), 0.5, 0.0]) for i in range(20)])
    return client, index


def test_no_more_searches_run_at_once_than_the_pool_has_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Eight callers, two slots: each search waits (up to 0.3 s) for a third to come in
    beside it; none ever does, and two do run together."""
    client, index = _served_index(query_threads=2)
    inside, most = [0], [0]
    full = threading.Condition()
    real = NamespaceView.query

    def counted(self: NamespaceView, **kw: Any) -> Any:
        with full:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
            full.notify_all()
            full.wait_for(lambda: inside[0] >= 3, timeout=0.3)
        try:
            return real(self, **kw)
        finally:
            with full:
                inside[0] -= 1

    monkeypatch.setattr(NamespaceView, "query", counted)
    threads = [
        threading.Thread(target=lambda: index.query(vector=[1.0, 0, 0, 0], top_k=3))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    client.close()
    assert most[0] == 2


def test_a_callers_thread_searches_with_one_faiss_thread() -> None:
    """OpenMP settings are per thread: a search from an application's (or a server's)
    own thread must not start a team of one faiss thread per core."""
    client = Client(open_store("memory://"), EngineConfig(background=False))
    client.create_index(name="f", dimension=32, metric="cosine")
    index = client.Index("f")
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((20, 32)).astype(np.float32)
    rows = centres[rng.integers(0, 20, 6000)] + 0.3 * rng.standard_normal((6000, 32))
    index.upsert_arrays([f"s{i}" for i in range(6000)], rows.astype(np.float32), None)
    index.flush()
    (ns,) = client.open_namespaces()
    assert any(r.has_ann for r in ns.readers().values())  # flat codes: faiss answers
    seen: list[int] = []

    def caller() -> None:
        faiss.omp_set_num_threads(4)  # as a fresh thread of a 4-core machine starts
        index.query(vector=rows[0].tolist(), top_k=3)
        seen.append(faiss.omp_get_max_threads())

    thread = threading.Thread(target=caller)
    thread.start()
    thread.join()
    client.close()
    assert seen == [1]
