"""Batch queries of a namespace view: many query vectors, each source searched once.

:func:`query_batch` is the batch half of :class:`~slabdb.engine.view.NamespaceView`,
run over the view it is handed (the visibility checks and the merge are the view's,
shared with the single query).  Each source is asked once per block of :data:`BATCH_BLOCK_QUERIES` queries (one
matrix product per exact slab, one faiss search per ANN slab), then every query is
merged as :meth:`NamespaceView.query <slabdb.engine.view.NamespaceView.query>` merges.
"""

from __future__ import annotations

import functools
from concurrent.futures import Executor
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from slabdb.engine import group_search
from slabdb.filters import Expr

if TYPE_CHECKING:
    from slabdb.engine.view import Hit, NamespaceView

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

Candidates = tuple[int, I64, F32]
"""A source's position in the view and its candidate rows and scores, best first."""
BATCH_BLOCK_QUERIES = 64
"""Queries of a batch searched together (one matrix product or faiss call per source);
the blocks of a larger batch share the query pool."""


def query_batch(
    view: NamespaceView,
    *,
    vectors: F32,
    metric: str,
    top_k: int,
    expr: Expr | None,
    executor: Executor | None = None,
) -> list[list[Hit]]:
    """``view.query`` of every row of ``vectors`` (an (n, d) float32 matrix), each
    source searched once per block of :data:`BATCH_BLOCK_QUERIES` queries (one matrix
    product, one faiss call); blocks run on ``executor`` when given (the query pool: its
    size is the batch's thread budget)."""
    n = len(vectors)
    if top_k <= 0 or not view._searched or n == 0:
        return [[] for _ in range(n)]
    run = functools.partial(_query_block, view, metric=metric, top_k=top_k, expr=expr)
    blocks = [vectors[i : i + BATCH_BLOCK_QUERIES] for i in range(0, n, BATCH_BLOCK_QUERIES)]
    if executor is None:
        return [hits for block in blocks for hits in run(block)]
    futures = [executor.submit(run, block) for block in blocks]
    return [hits for future in futures for hits in future.result()]


def _query_block(
    view: NamespaceView, vectors: F32, *, metric: str, top_k: int, expr: Expr | None
) -> list[list[Hit]]:
    """Each codebook group once for the block (group_search), then every source for the
    queries no group answered for it."""
    grouped = group_search.search_groups_batch(view, vectors, metric, top_k, expr)
    per_query = [cands for cands, _covered in grouped]
    for pos in view._searched:
        need = [i for i, (_c, covered) in enumerate(grouped) if pos not in covered]
        if not need:
            continue
        asked = vectors if len(need) == len(vectors) else vectors[need]
        found = _gather_batch(view, asked, metric, top_k, expr, pos)
        for i, (rows, scores) in zip(need, found, strict=True):
            per_query[i].append((pos, rows, scores))
    return [view._merge(c, metric, top_k) for c in per_query]


def _gather_batch(
    view: NamespaceView, vectors: F32, metric: str, top_k: int, expr: Expr | None, pos: int
) -> list[tuple[I64, F32]]:
    """The view's ``_gather`` of every query: one batch search of the source, and one
    more (superseded rows left out) for the queries whose best rows were superseded."""
    out = _search_source_batch(view, vectors, metric, top_k, expr, pos, view._shadows.get(pos))
    short = [
        i for i, (rows, _s, exhausted) in enumerate(out) if len(rows) < top_k and not exhausted
    ]
    if short:
        again = _search_source_batch(
            view, vectors[short], metric, top_k, expr, pos, view.shadowed(pos)
        )
        for i, found in zip(short, again, strict=True):
            out[i] = found
            if len(found[0]) < top_k and not found[2]:  # rare: widen query by query
                out[i] = (*view._widened(vectors[i], metric, top_k, expr, pos), True)
    return [(rows[:top_k], scores[:top_k]) for rows, scores, _e in out]


def _search_source_batch(
    view: NamespaceView,
    vectors: F32,
    metric: str,
    k: int,
    expr: Expr | None,
    pos: int,
    exclude: I64 | None,
) -> list[tuple[I64, F32, bool]]:
    """The view's ``_search_source`` of every query, from one search of the source."""
    found = view.sources[pos].search_batch(vectors, metric, k, expr, exclude)
    return [view.keep_current(pos, rows, scores, k) for rows, scores in found]
