"""query_batch: every source searched once for all the queries (one matrix product per
exact slab, one faiss search per ANN slab), each query answered as query() answers it,
across filters, deletes and superseded rows in memtables and in older slabs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from slabdb import EngineConfig
from slabdb.client import Client
from slabdb.core.config import AnnConfig
from slabdb.engine import view as view_module
from slabdb.query.scoring import dense_scores, dense_scores_batch, vector_norms
from slabdb.slab import ann_search
from slabdb.slab import search as slab_search
from slabdb.storage import open_store

DIM, K = 16, 10
FILTERS: list[dict[str, Any] | None] = [None, {"bucket": {"$lt": 50}}, {"bucket": {"$lt": 3}}]


def _layered(ann_min_rows: int) -> tuple[Client, Any]:
    """Three slabs (the older two partly superseded and deleted by newer ones), and a
    memtable that overwrites and deletes more rows."""
    cfg = EngineConfig(
        background=False,
        flush_records=100_000,
        ann=AnnConfig(min_rows=ann_min_rows, exact_rows_per_ef=1.0),
    )
    client = Client(open_store("memory://"), cfg)
    client.create_index(name="b", dimension=DIM, metric="cosine")
    index = client.Index("b")
    rng = np.random.default_rng(7)
    for start in (0, 600, 1200):
        ids = [f"r{i}" for i in range(start, start + 900)]  # overlaps the previous slab
        md = [{"bucket": i % 100} for i in range(start, start + 900)]
        index.upsert_arrays(ids, rng.standard_normal((900, DIM)).astype(np.float32), md)
        index.delete(ids=[f"r{i}" for i in range(start, start + 900, 17)])
        index.flush()
    overwrite = [f"r{i}" for i in range(0, 2100, 5)]
    md = [{"bucket": i % 100} for i in range(0, 2100, 5)]
    index.upsert_arrays(
        overwrite, rng.standard_normal((len(overwrite), DIM)).astype(np.float32), md
    )
    index.delete(ids=[f"r{i}" for i in range(3, 2100, 31)])
    return client, index


def _answers(responses: list[Any]) -> list[list[tuple[str, float]]]:
    return [[(m.id, m.score) for m in r.matches] for r in responses]


def _same_up_to_rounding(batch: list[Any], single: list[Any]) -> None:
    """The same records in the same order, and scores within float32 rounding: an exact
    slab scores a batch with one matrix product, and BLAS sums that in another order
    than the matrix-vector product of one query (neither is bit-stable anyway: a
    gathered subset of rows sums differently than the whole matrix)."""
    assert [[rid for rid, _ in a] for a in batch] == [[rid for rid, _ in a] for a in single]
    np.testing.assert_allclose(
        [s for a in batch for _, s in a], [s for a in single for _, s in a], rtol=0, atol=1e-6
    )


def _queries(n: int) -> np.ndarray:
    return np.random.default_rng(11).standard_normal((n, DIM)).astype(np.float32)


@pytest.mark.parametrize("flt", FILTERS)
def test_exact_slabs_give_each_query_the_single_query_answer(
    flt: dict[str, Any] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, index = _layered(ann_min_rows=1_000_000)  # no ANN index: exact slabs
    products = []
    real = slab_search.dense_scores_batch
    monkeypatch.setattr(
        slab_search,
        "dense_scores_batch",
        lambda m, n, q, metric: products.append(len(q)) or real(m, n, q, metric),
    )
    qs = _queries(40)
    batch = _answers(index.query_batch(vectors=qs, top_k=K, filter=flt))
    single = _answers([index.query(vector=q, top_k=K, filter=flt) for q in qs])
    _same_up_to_rounding(batch, single)
    assert all(len(a) == K for a in batch)
    # One product per slab for all 40 queries, and one more for the queries whose best
    # rows a newer source superseded (the memtable overwrites a fifth of every slab).
    assert products[:1] == [40] and len(products) <= 2 * 3
    client.close()


@pytest.mark.parametrize("flt", FILTERS)
def test_ann_slabs_give_each_query_exactly_the_single_query_answer(
    flt: dict[str, Any] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, index = _layered(ann_min_rows=500)
    (ns,) = client.open_namespaces()
    assert sum(r.has_ann for r in ns.readers().values()) == 3
    searches = []
    real = ann_search.AnnIndex.candidates_batch

    def counted(self: Any, queries: np.ndarray, *args: Any) -> Any:
        searches.append(len(queries))
        return real(self, queries, *args)

    monkeypatch.setattr(ann_search.AnnIndex, "candidates_batch", counted)
    qs = _queries(30)
    batch = _answers(index.query_batch(vectors=qs, top_k=K, filter=flt))
    graph_searches, searches[:] = list(searches), []
    single = _answers([index.query(vector=q, top_k=K, filter=flt) for q in qs])
    assert all(len(a) == K for a in batch)
    if flt == {"bucket": {"$lt": 3}}:  # 3 %: below exact_filter_fraction: exact slabs
        assert graph_searches == searches == []
        _same_up_to_rounding(batch, single)
    else:
        assert batch == single  # re-ranked exactly, query by query: bit for bit
        # One faiss search per slab for all 30 queries, and one more on an older slab
        # for the queries whose best rows a newer source superseded.
        assert graph_searches[:1] == [30] and len(graph_searches) <= 2 * 3
        assert len(searches) >= 90
    client.close()


def test_a_batch_larger_than_a_block_keeps_its_order_on_the_pool() -> None:
    client, index = _layered(ann_min_rows=500)
    qs = _queries(2 * view_module.BATCH_BLOCK_QUERIES + 5)
    batch = index.query_batch(vectors=qs.tolist(), top_k=3)  # lists of floats too
    single = [index.query(vector=q, top_k=3) for q in qs]
    _same_up_to_rounding(_answers(batch), _answers(single))
    assert {r.lsn for r in batch} == {single[0].lsn}
    client.close()


def test_an_empty_or_missing_namespace_answers_every_query_with_no_matches() -> None:
    client, index = _layered(ann_min_rows=500)
    out = index.query_batch(vectors=_queries(3), top_k=K, namespace="nothing-here")
    assert [r.matches for r in out] == [[], [], []]
    assert index.query_batch(vectors=np.empty((0, DIM), np.float32), top_k=K) == []
    client.close()


@pytest.mark.parametrize("metric", ["cosine", "dotproduct", "euclidean"])
def test_batch_scores_equal_single_scores_up_to_rounding(metric: str) -> None:
    rng = np.random.default_rng(3)
    matrix = rng.standard_normal((300, DIM)).astype(np.float32)
    matrix[5] = 0.0  # a zero row scores 0 under cosine, as in dense_scores
    norms = vector_norms(matrix)
    qs = rng.standard_normal((7, DIM)).astype(np.float32)
    batch = dense_scores_batch(matrix, norms, qs, metric)
    assert batch.dtype == np.float32 and batch.shape == (7, 300)
    for q, row in zip(qs, batch, strict=True):
        np.testing.assert_allclose(row, dense_scores(matrix, norms, q, metric), atol=1e-5)
    if metric == "cosine":
        assert not batch[:, 5].any()
