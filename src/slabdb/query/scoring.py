"""Scores as Pinecone defines them, and top-k selection.

* ``cosine``: ``dot(q, v) / (|q| |v|)``; higher is more similar.
* ``dotproduct``: ``dot(q, v)`` plus the sparse dot product for hybrid records;
  higher is more similar.
* ``euclidean``: the squared Euclidean distance ``|q - v|^2``; *lower* is more similar.

Every search in SlabDB (memtable, slab, brute-force checks) goes through these
functions, so all sources rank identically.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from slabdb.core.values import SparseVector

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]


def vector_norms(matrix: F32) -> F32:
    """Row L2 norms, float32."""
    return np.sqrt(np.einsum("ij,ij->i", matrix, matrix, dtype=np.float32)).astype(np.float32)


def dense_scores(matrix: F32, norms: F32, query: F32, metric: str) -> F32:
    """Score every row of ``matrix`` against ``query`` (norms are the rows' L2 norms)."""
    dots = matrix @ query
    if metric == "dotproduct":
        return dots.astype(np.float32, copy=False)
    if metric == "cosine":
        denom = norms * _norm(query)
        if len(denom) and denom.min() > 0:  # the usual case: one division, no mask
            return (dots / denom).astype(np.float32, copy=False)
        out = np.zeros(dots.shape, dtype=np.result_type(dots, denom))
        np.divide(dots, denom, out=out, where=denom > 0)  # 0 where a norm is 0
        return out.astype(np.float32, copy=False)
    if metric == "euclidean":
        qq = float(query @ query)
        out = norms * norms - 2.0 * dots + qq
        return np.maximum(out, 0.0).astype(np.float32, copy=False)
    raise ValueError(f"unknown metric {metric!r}")


def _norm(query: F32) -> float:
    """``float(np.linalg.norm(query))``, bit for bit, without its dispatch (a float
    vector's norm is ``sqrt(x.dot(x))`` in its own precision there too)."""
    if query.dtype.kind != "f":
        return float(np.linalg.norm(query))
    flat = query.ravel(order="K")
    return float(np.sqrt(flat.dot(flat)))


def dense_scores_batch(matrix: F32, norms: F32, queries: F32, metric: str) -> F32:
    """:func:`dense_scores` of each row of ``queries`` (nq, d), as an (nq, n) matrix from
    one matrix product (equal to the one-query scores up to float32 rounding: BLAS sums
    a matrix product in another order than a matrix-vector one)."""
    dots = queries @ matrix.T
    if metric == "dotproduct":
        return dots.astype(np.float32, copy=False)
    qq = np.einsum("ij,ij->i", queries, queries, dtype=np.float32)
    if metric == "cosine":
        denom = np.sqrt(qq)[:, None] * norms[None, :]
        out = np.zeros_like(dots)
        np.divide(dots, denom, out=out, where=denom > 0)
        return out.astype(np.float32, copy=False)
    if metric == "euclidean":
        out = (norms * norms)[None, :] - 2.0 * dots + qq[:, None]
        return np.maximum(out, 0.0).astype(np.float32, copy=False)
    raise ValueError(f"unknown metric {metric!r}")


def sparse_dot(a: SparseVector | None, b: SparseVector | None) -> float:
    """Dot product of two sparse vectors (0.0 if either is missing)."""
    if a is None or b is None or len(a.indices) == 0 or len(b.indices) == 0:
        return 0.0
    common, ia, ib = np.intersect1d(a.indices, b.indices, assume_unique=True, return_indices=True)
    if len(common) == 0:
        return 0.0
    return float(np.dot(a.values[ia].astype(np.float64), b.values[ib].astype(np.float64)))


def higher_is_better(metric: str) -> bool:
    return metric != "euclidean"


def rank_keys(scores: F32, metric: str) -> F32:
    """Keys where larger always means more similar."""
    return scores if higher_is_better(metric) else -scores


def top_k_rows(scores: F32, k: int, metric: str) -> I64:
    """Indices of the ``k`` best scores, best first (ties by lower row index)."""
    n = len(scores)
    if k <= 0 or n == 0:
        return np.empty(0, dtype=np.int64)
    lower_is_better = -rank_keys(scores, metric)
    if k >= n:  # every row, best first: a stable sort keeps ties in row order
        return lower_is_better.argsort(kind="stable").astype(np.int64, copy=False)
    part = np.argpartition(lower_is_better, k - 1)[:k]
    order = np.lexsort((part, lower_is_better[part]))
    return part[order].astype(np.int64)
