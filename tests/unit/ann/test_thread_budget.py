"""One thread budget: the query pool times BLAS threads never exceeds the cores; and the
GIL switch interval a client sets for its lifetime."""

from __future__ import annotations

import sys
from dataclasses import replace

import pytest
from threadpoolctl import threadpool_info

from slabdb import EngineConfig
from slabdb.client import Client
from slabdb.client.client import thread_budget
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
