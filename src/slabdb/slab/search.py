"""Search one slab: candidate rows, the ANN route, and exact scoring.

The candidate rows are the live (not deleted) rows, intersected with ``allow`` and
minus ``exclude_rows``.  A slab with an ANN index (:mod:`slabdb.slab.ann_search`, loaded
on the first query that uses it) answers a dense query from the graph when the
candidates are at least the index's ``exact_filter_fraction`` of its rows: the
candidates become the graph's ID selector (never a post-filter), and the rows it
proposes are re-scored exactly from the float32 vectors.  If the graph finds fewer
than ``min(k, candidates)`` rows, or the query is sparse/hybrid, the search is exact.
Exact search: when candidates are fewer than :data:`PREFILTER_FRACTION` of the
rows, only they are gathered and scored (pre-filter); otherwise every row is scored
and the candidates are picked out.  Either way a filter that admits k rows returns
k rows.  Scores follow :mod:`slabdb.query.scoring`; for hybrid
(dense + sparse, dotproduct) the float32 dense score and the float64 sparse dot
product are added in float64 and rounded to float32.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from pyroaring import AbstractBitMap

from slabdb.core.errors import DimensionMismatchError
from slabdb.core.values import METRICS, SparseVector
from slabdb.filters.bitsets import bitmap_from_rows
from slabdb.query.scoring import dense_scores, dense_scores_batch, top_k_rows

if TYPE_CHECKING:
    from slabdb.slab.reader import SlabReader

I64 = npt.NDArray[np.int64]
F32 = npt.NDArray[np.float32]

PREFILTER_FRACTION = 0.10
"""Below this fraction of allowed rows, search gathers and scores only those rows."""

SCORE_BLOCK_FLOATS = 1 << 24
"""Scores (float32) one matrix product of a batch computes at most (64 MiB)."""

_NO_RESULTS_ROWS = np.empty(0, dtype=np.int64)
_NO_RESULTS_SCORES = np.empty(0, dtype=np.float32)


def search_slab(
    slab: SlabReader,
    *,
    vector: npt.ArrayLike | None,
    sparse: SparseVector | None,
    metric: str,
    k: int,
    allow: AbstractBitMap | None = None,
    exclude_rows: npt.ArrayLike | AbstractBitMap | None = None,
) -> tuple[I64, F32]:
    """:meth:`SlabReader.search <slabdb.slab.reader.SlabReader.search>` of ``slab``."""
    query = query_vector(slab, vector, sparse, metric)
    if k <= 0 or slab.n == 0:
        return _NO_RESULTS_ROWS, _NO_RESULTS_SCORES
    candidates = candidate_bitmap(slab, allow, exclude_rows)
    m = len(candidates)
    if m == 0:
        return _NO_RESULTS_ROWS, _NO_RESULTS_SCORES
    if query is not None and sparse is None and metric == slab.metric and slab.has_ann:
        found = _ann_search(slab, query, metric, k, candidates)
        if found is not None:
            return found
    if m == slab.n:
        rows = np.arange(slab.n, dtype=np.int64)
        scores = _scores(slab, query, sparse, metric, None)
    else:
        rows = np.frombuffer(candidates.to_array(), dtype=np.uint32).astype(np.int64)
        if m < PREFILTER_FRACTION * slab.n:
            scores = _scores(slab, query, sparse, metric, rows)
        else:
            scores = _scores(slab, query, sparse, metric, None)[rows]
    top = top_k_rows(scores, k, metric)
    return rows[top], scores[top]


def search_slab_batch(
    slab: SlabReader,
    *,
    queries: npt.ArrayLike,
    metric: str,
    k: int,
    allow: AbstractBitMap | None = None,
    exclude_rows: npt.ArrayLike | AbstractBitMap | None = None,
) -> list[tuple[I64, F32]]:
    """:func:`search_slab` of each dense query row of ``queries`` (nq, dim): the candidate
    rows worked out once, one faiss search for all the queries the graph answers (each
    re-ranked exactly, as one query is), one matrix product for the exact ones."""
    qs = _query_matrix(slab, queries, metric)
    nothing = [(_NO_RESULTS_ROWS, _NO_RESULTS_SCORES)] * len(qs)
    if k <= 0 or slab.n == 0 or len(qs) == 0:
        return nothing
    candidates = candidate_bitmap(slab, allow, exclude_rows)
    if len(candidates) == 0:
        return nothing
    out: list[tuple[I64, F32] | None] = [None] * len(qs)
    if metric == slab.metric and slab.has_ann:
        ann = slab.ann_index()
        assert ann is not None
        proposed = ann.propose_batch(qs, k, candidates, slab.n, slab.live_count)
        for i, rows in enumerate(proposed):
            if rows is not None:
                out[i] = _rerank(slab, qs[i], metric, k, rows)
    exact = [i for i, found in enumerate(out) if found is None]
    if exact:
        for i, found in zip(
            exact, _exact_batch(slab, qs[exact], metric, k, candidates), strict=True
        ):
            out[i] = found
    return [found for found in out if found is not None]


def _ann_search(
    slab: SlabReader, query: F32, metric: str, k: int, candidates: AbstractBitMap
) -> tuple[I64, F32] | None:
    """Top-``k`` from the graph, re-ranked exactly; None when exact search should answer."""
    ann = slab.ann_index()
    assert ann is not None
    rows = ann.propose(query, k, candidates, slab.n, slab.live_count)
    return None if rows is None else _rerank(slab, query, metric, k, rows)


def _rerank(slab: SlabReader, query: F32, metric: str, k: int, rows: I64) -> tuple[I64, F32]:
    """The best ``k`` of ``rows`` (a dense ``query`` of the slab's metric, checked by
    :func:`query_vector`) by their exact scores, best first."""
    scores = _scores(slab, query, None, metric, rows)
    top = top_k_rows(scores, k, metric)
    return rows[top], scores[top]


def _exact_batch(
    slab: SlabReader, qs: F32, metric: str, k: int, candidates: AbstractBitMap
) -> list[tuple[I64, F32]]:
    """Exact top-``k`` of each query: the candidates' scores for a block of queries at a
    time from one matrix product (the pre-filtered rows gathered once for all)."""
    m = len(candidates)
    rows = None if m == slab.n else np.frombuffer(candidates.to_array(), np.uint32).astype(np.int64)
    norms = slab.norms
    assert norms is not None
    scan = rows is None or m >= PREFILTER_FRACTION * slab.n
    if not scan:
        assert rows is not None
        matrix, norms, picked = slab.vector_rows(rows), norms[rows], None
    else:
        whole = slab.vectors
        assert whole is not None
        matrix, picked = whole, rows
    out: list[tuple[I64, F32]] = []
    step = max(1, SCORE_BLOCK_FLOATS // len(matrix))
    for start in range(0, len(qs), step):
        block = dense_scores_batch(matrix, norms, qs[start : start + step], metric)
        if scan:
            slab.scanned_vectors()
        for scores in block if picked is None else block[:, picked]:
            top = top_k_rows(scores, k, metric)
            out.append((top if rows is None else rows[top], scores[top]))
    return out


def query_vector(
    slab: SlabReader, vector: npt.ArrayLike | None, sparse: SparseVector | None, metric: str
) -> F32 | None:
    """The dense query as a float32 vector (None for a sparse-only query); ValueError or
    :class:`DimensionMismatchError` when the slab cannot answer it."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    if vector is None and sparse is None:
        raise ValueError("search needs a dense vector, a sparse vector, or both")
    if sparse is not None and metric != "dotproduct":
        raise ValueError("sparse and hybrid search need metric 'dotproduct'")
    if vector is None:
        return None
    if slab.vector_type != "dense":
        raise ValueError("a sparse slab cannot be searched with a dense vector")
    query = np.ascontiguousarray(vector, dtype=np.float32).reshape(-1)
    if len(query) != slab.dim:
        raise DimensionMismatchError(
            f"query vector has dimension {len(query)}, the slab has {slab.dim}"
        )
    return query


def _query_matrix(slab: SlabReader, queries: npt.ArrayLike, metric: str) -> F32:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    if slab.vector_type != "dense":
        raise ValueError("a sparse slab cannot be searched with a dense vector")
    qs = np.ascontiguousarray(queries, dtype=np.float32)
    if qs.ndim != 2 or qs.shape[1] != slab.dim:
        raise DimensionMismatchError(
            f"query vectors have shape {qs.shape}, the slab has dimension {slab.dim}"
        )
    return qs


def candidate_bitmap(
    slab: SlabReader,
    allow: AbstractBitMap | None,
    exclude_rows: npt.ArrayLike | AbstractBitMap | None,
) -> AbstractBitMap:
    """The slab's live rows in ``allow`` (all if None) and not in ``exclude_rows``."""
    candidates: AbstractBitMap = slab.live
    if allow is not None:
        candidates = candidates & allow
    if isinstance(exclude_rows, AbstractBitMap):
        candidates = candidates - exclude_rows
    elif exclude_rows is not None:
        excluded = np.asarray(exclude_rows)
        if excluded.size:
            candidates = candidates - bitmap_from_rows(excluded[excluded >= 0])
    return candidates


def _scores(
    slab: SlabReader, query: F32 | None, sparse: SparseVector | None, metric: str, rows: I64 | None
) -> F32:
    dense: F32 | None = None
    if query is not None:
        norms = slab.norms
        assert norms is not None
        if rows is None:
            vectors = slab.vectors
            assert vectors is not None
            dense = dense_scores(vectors, norms, query, metric)
            slab.scanned_vectors()
        else:
            dense = dense_scores(slab.vector_rows(rows), norms[rows], query, metric)
    if sparse is None:
        assert dense is not None
        return dense
    n_scored = slab.n if rows is None else len(rows)
    if slab.sparse_rows is None or slab.postings is None:
        sparse_part = np.zeros(n_scored, dtype=np.float64)
    elif rows is None:
        sparse_part = slab.postings.score_all(sparse, slab.n)
    else:
        sparse_part = slab.sparse_rows.score_rows(sparse, rows)
    if dense is None:
        return sparse_part.astype(np.float32)
    return (dense.astype(np.float64) + sparse_part).astype(np.float32)
