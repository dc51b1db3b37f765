"""Probes of the ANN benchmark (:mod:`ann`): batch timing, and SlabDB's CPU per query
outside faiss."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ann_data import RealSet

BATCH_QUERIES = 1000
"""Queries per batch call: the query set repeated up to this many (recall from the first copy)."""


def batch_of(queries: np.ndarray) -> np.ndarray:
    return np.tile(queries, (max(1, BATCH_QUERIES // len(queries)), 1))


def time_batches(
    run: Any, n_queries: int, batch: int, rounds: int = 3
) -> tuple[dict[str, Any], list[list[str]]]:
    """One call answering ``batch`` queries, after one warm-up call: the best of ``rounds``;
    the ids of the first ``n_queries``."""
    ids = run()
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        ids = run()
        best = min(best, time.perf_counter() - started)
    summary = {"queries": batch, "batch_seconds": best, "qps_batch": batch / best}
    return summary, ids[:n_queries]


class _TimedIndex:
    """A faiss index whose ``search`` adds its thread CPU time to ``seconds``."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.seconds = inner, 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def search(self, *args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            return self.inner.search(*args, **kwargs)
        finally:
            self.seconds += time.thread_time() - started


def python_per_query(
    index: Any, data: RealSet, ns: Any, namespace: str, k: int, rounds: int = 5
) -> float:
    """µs of the calling thread's CPU per unfiltered query outside faiss's ``search``
    (API, view, filters, re-rank: SlabDB's own work), the best of ``rounds`` passes over
    the queries repeated to :data:`BATCH_QUERIES`."""
    anns = [r.ann_index() for r in ns.readers().values() if r.has_ann]
    timed = [_TimedIndex(a._index) for a in anns]
    for a, t in zip(anns, timed, strict=True):
        a._index = t
    best, queries = float("inf"), batch_of(data.queries)
    try:
        for _ in range(rounds):
            for t in timed:
                t.seconds = 0.0
            started = time.thread_time()
            for q in queries:
                index.query(vector=q, top_k=k, namespace=namespace)
            outside = time.thread_time() - started - sum(t.seconds for t in timed)
            best = min(best, outside / len(queries) * 1e6)
    finally:
        for a, t in zip(anns, timed, strict=True):
            a._index = t.inner
    return best
