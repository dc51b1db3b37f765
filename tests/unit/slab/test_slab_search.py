"""Slab search against an independent float64 brute force."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pyroaring import BitMap

from slabdb.core.errors import DimensionMismatchError
from slabdb.core.values import SparseVector
from slabdb.filters import parse_filter
from slabdb.slab import SlabBuilder, SlabReader
from slabdb.slab import search as search_module

N, DIM, VOCAB = 500, 16, 60
METRICS = ["cosine", "euclidean", "dotproduct"]
FILTERS: dict[str, dict[str, Any] | None] = {
    "none": None,
    "selective": {"bucket": 3},  # 2% of rows: the pre-filter path
    "broad": {"bucket": {"$gte": 10}},  # 80% of rows: the scan path
    "or": {"$or": [{"tag": "red"}, {"bucket": {"$lt": 5}}]},
}


def _random_sparse(rng: np.random.Generator) -> SparseVector:
    terms = np.sort(rng.choice(VOCAB, size=int(rng.integers(1, 6)), replace=False))
    return SparseVector(terms.astype(np.uint32), rng.random(len(terms)).astype(np.float32))


def _make(vector_type: str = "dense", metric: str = "cosine", seed: int = 11) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((N, DIM)).astype(np.float32)
    vectors[17] = 0.0  # a live zero vector: cosine scores it 0, never NaN
    sparse = [None if i % 9 == 0 else _random_sparse(rng) for i in range(N)]
    metadata = [{"bucket": i % 50, "tag": ["red", "green", "blue"][i % 3]} for i in range(N)]
    deleted = rng.random(N) < 0.1
    deleted[17] = False
    data, _ = SlabBuilder.build(
        ids=[f"v{i}" for i in range(N)],
        lsns=np.arange(N, dtype=np.uint64),
        deleted=deleted,
        vectors=vectors if vector_type == "dense" else None,
        sparse=sparse,
        metadata=metadata,
        metric=metric,
        vector_type=vector_type,
        level=0,
    )
    return {
        "reader": SlabReader.from_bytes(data),
        "vectors": vectors,
        "sparse": sparse,
        "metadata": metadata,
        "deleted": deleted,
        "rng": rng,
    }


def _brute_force_matches(filter: dict[str, Any] | None, md: dict[str, Any]) -> bool:
    if filter is None:
        return True
    if "$or" in filter:
        return any(_brute_force_matches(f, md) for f in filter["$or"])
    ((field, spec),) = filter.items()
    if isinstance(spec, dict):
        ((op, value),) = spec.items()
        return {"$gte": md[field] >= value, "$lt": md[field] < value}[op]
    return md[field] == spec or (isinstance(md[field], list) and spec in md[field])


def _brute_force(
    slab: dict[str, Any],
    query: np.ndarray | None,
    sparse_query: SparseVector | None,
    metric: str,
    k: int,
    filter: dict[str, Any] | None = None,
    exclude: set[int] | None = None,
) -> tuple[list[int], list[float]]:
    scored: list[tuple[float, int]] = []
    for row in range(N):
        if slab["deleted"][row] or row in (exclude or set()):
            continue
        if not _brute_force_matches(filter, slab["metadata"][row]):
            continue
        score = 0.0
        if query is not None:
            v, q = slab["vectors"][row].astype(np.float64), query.astype(np.float64)
            if metric == "dotproduct":
                score = float(v @ q)
            elif metric == "cosine":
                denom = np.linalg.norm(v) * np.linalg.norm(q)
                score = float(v @ q / denom) if denom > 0 else 0.0
            else:
                score = float(((v - q) ** 2).sum())
        stored = slab["sparse"][row]
        if sparse_query is not None and stored is not None:
            weights = dict(zip(stored.indices.tolist(), stored.values.tolist(), strict=True))
            score += sum(
                weights.get(t, 0.0) * float(w)
                for t, w in zip(
                    sparse_query.indices.tolist(), sparse_query.values.tolist(), strict=True
                )
            )
        scored.append((score, row))
    sign = 1.0 if metric == "euclidean" else -1.0
    scored.sort(key=lambda pair: (sign * pair[0], pair[1]))
    top = scored[:k]
    return [row for _, row in top], [score for score, _ in top]


def _check(got: tuple[np.ndarray, np.ndarray], expected: tuple[list[int], list[float]]) -> None:
    rows, scores = got
    assert rows.dtype == np.int64 and scores.dtype == np.float32
    assert rows.tolist() == expected[0]
    np.testing.assert_allclose(scores, expected[1], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("filter_name", list(FILTERS))
def test_dense_search_equals_brute_force(metric: str, filter_name: str) -> None:
    slab = _make(metric=metric)
    reader: SlabReader = slab["reader"]
    flt = FILTERS[filter_name]
    allow = reader.filter_bitmap(parse_filter(flt)) if flt is not None else None
    for _ in range(3):
        query = slab["rng"].standard_normal(DIM).astype(np.float32)
        for k in (1, 10, 37):
            got = reader.search(vector=query, sparse=None, metric=metric, k=k, allow=allow)
            _check(got, _brute_force(slab, query, None, metric, k, flt))


@pytest.mark.parametrize("metric", METRICS)
def test_pre_filter_and_scan_paths_agree(metric: str, monkeypatch: pytest.MonkeyPatch) -> None:
    slab = _make(metric=metric)
    reader: SlabReader = slab["reader"]
    query = slab["rng"].standard_normal(DIM).astype(np.float32)
    allow = reader.filter_bitmap(parse_filter({"tag": "red"}))
    results = []
    for fraction in (0.0, 1.01):  # force scan, then force pre-filter
        monkeypatch.setattr(search_module, "PREFILTER_FRACTION", fraction)
        results.append(reader.search(vector=query, sparse=None, metric=metric, k=25, allow=allow))
    assert results[0][0].tolist() == results[1][0].tolist()
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-6)


def test_k_larger_than_matches_returns_every_match() -> None:
    slab = _make()
    reader: SlabReader = slab["reader"]
    allow = reader.filter_bitmap(parse_filter({"bucket": 7}))
    query = np.ones(DIM, np.float32)
    rows, _ = reader.search(vector=query, sparse=None, metric="cosine", k=1000, allow=allow)
    assert sorted(rows.tolist()) == sorted(allow)
    assert len(rows) == sum(1 for i in range(N) if i % 50 == 7 and not slab["deleted"][i])
    rows, _ = reader.search(vector=query, sparse=None, metric="cosine", k=10_000)
    assert len(rows) == reader.live_count
    assert reader.search(vector=query, sparse=None, metric="cosine", k=0)[0].size == 0
    empty = reader.search(vector=query, sparse=None, metric="cosine", k=5, allow=BitMap())
    assert empty[0].size == 0


def test_tombstones_never_come_back_even_if_allowed() -> None:
    slab = _make()
    reader: SlabReader = slab["reader"]
    dead = BitMap(np.flatnonzero(slab["deleted"]).tolist())
    assert dead
    rows, _ = reader.search(vector=np.ones(DIM), sparse=None, metric="dotproduct", k=N, allow=dead)
    assert rows.size == 0
    rows, _ = reader.search(vector=np.ones(DIM), sparse=None, metric="dotproduct", k=N)
    assert not set(rows.tolist()) & set(dead)


@pytest.mark.parametrize("metric", METRICS)
def test_exclude_rows(metric: str) -> None:
    slab = _make(metric=metric)
    reader: SlabReader = slab["reader"]
    query = slab["rng"].standard_normal(DIM).astype(np.float32)
    first, _ = reader.search(vector=query, sparse=None, metric=metric, k=5)
    exclude = first[:3]
    got = reader.search(vector=query, sparse=None, metric=metric, k=5, exclude_rows=exclude)
    _check(got, _brute_force(slab, query, None, metric, 5, exclude=set(exclude.tolist())))
    as_bitmap = reader.search(
        vector=query, sparse=None, metric=metric, k=5, exclude_rows=BitMap(exclude.tolist())
    )
    assert as_bitmap[0].tolist() == got[0].tolist()
    allow = reader.filter_bitmap(parse_filter({"bucket": 3}))
    some = np.array(list(allow)[:2])
    got = reader.search(
        vector=query, sparse=None, metric=metric, k=50, allow=allow, exclude_rows=some
    )
    _check(got, _brute_force(slab, query, None, metric, 50, {"bucket": 3}, set(some.tolist())))


@pytest.mark.parametrize("filter_name", list(FILTERS))
def test_hybrid_search_equals_brute_force(filter_name: str) -> None:
    slab = _make(metric="dotproduct")
    reader: SlabReader = slab["reader"]
    flt = FILTERS[filter_name]
    allow = reader.filter_bitmap(parse_filter(flt)) if flt is not None else None
    for _ in range(3):
        query = slab["rng"].standard_normal(DIM).astype(np.float32)
        sparse_query = _random_sparse(slab["rng"])
        got = reader.search(
            vector=query, sparse=sparse_query, metric="dotproduct", k=20, allow=allow
        )
        _check(got, _brute_force(slab, query, sparse_query, "dotproduct", 20, flt))


@pytest.mark.parametrize("filter_name", list(FILTERS))
def test_sparse_only_search_equals_brute_force(filter_name: str) -> None:
    slab = _make(vector_type="sparse", metric="dotproduct")
    reader: SlabReader = slab["reader"]
    flt = FILTERS[filter_name]
    allow = reader.filter_bitmap(parse_filter(flt)) if flt is not None else None
    for _ in range(3):
        sparse_query = _random_sparse(slab["rng"])
        for k in (1, 15, N):
            got = reader.search(
                vector=None, sparse=sparse_query, metric="dotproduct", k=k, allow=allow
            )
            _check(got, _brute_force(slab, None, sparse_query, "dotproduct", k, flt))


def test_sparse_paths_are_bit_identical(monkeypatch: pytest.MonkeyPatch) -> None:
    slab = _make(vector_type="sparse", metric="dotproduct")
    reader: SlabReader = slab["reader"]
    sparse_query = _random_sparse(slab["rng"])
    allow = reader.filter_bitmap(parse_filter({"tag": "blue"}))
    results = []
    for fraction in (0.0, 1.01):
        monkeypatch.setattr(search_module, "PREFILTER_FRACTION", fraction)
        results.append(
            reader.search(vector=None, sparse=sparse_query, metric="dotproduct", k=N, allow=allow)
        )
    assert results[0][0].tolist() == results[1][0].tolist()
    assert results[0][1].tobytes() == results[1][1].tobytes()


def test_sparse_query_on_dense_slab_without_sparse_data() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((10, 4)).astype(np.float32)
    data, _ = SlabBuilder.build(
        ids=[str(i) for i in range(10)],
        lsns=np.arange(10),
        deleted=np.zeros(10, bool),
        vectors=vectors,
        sparse=None,
        metadata=[None] * 10,
        metric="dotproduct",
        vector_type="dense",
        level=0,
    )
    reader = SlabReader.from_bytes(data)
    q = np.ones(4, np.float32)
    sq = SparseVector(np.array([1], np.uint32), np.array([1.0], np.float32))
    dense_only = reader.search(vector=q, sparse=None, metric="dotproduct", k=10)
    hybrid = reader.search(vector=q, sparse=sq, metric="dotproduct", k=10)
    assert dense_only[0].tolist() == hybrid[0].tolist()
    np.testing.assert_allclose(dense_only[1], hybrid[1], rtol=1e-6)


def test_bad_queries() -> None:
    dense = _make()["reader"]
    sparse = _make(vector_type="sparse", metric="dotproduct")["reader"]
    sq = SparseVector(np.array([1], np.uint32), np.array([1.0], np.float32))
    with pytest.raises(DimensionMismatchError):
        dense.search(vector=np.ones(DIM + 1), sparse=None, metric="cosine", k=3)
    with pytest.raises(ValueError, match="dotproduct"):
        dense.search(vector=np.ones(DIM), sparse=sq, metric="cosine", k=3)
    with pytest.raises(ValueError, match="needs a dense vector"):
        dense.search(vector=None, sparse=None, metric="cosine", k=3)
    with pytest.raises(ValueError, match="unknown metric"):
        dense.search(vector=np.ones(DIM), sparse=None, metric="l1", k=3)
    with pytest.raises(ValueError, match="sparse slab"):
        sparse.search(vector=np.ones(DIM), sparse=sq, metric="dotproduct", k=3)
