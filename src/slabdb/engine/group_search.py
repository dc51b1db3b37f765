"""Search a view's codebook groups (:mod:`slabdb.engine.code_groups`): one faiss call
over the merged codes of several slabs, with the per-slab path's promises.

A group answers what its slabs would answer one by one:

- each member's candidates are its live rows that match the filter, minus the rows a
  newer slab supersedes (the view's cached pairs); if any member has fewer candidates
  than indexed rows, their bitmaps, concatenated at byte-aligned offsets, are the
  merged index's ID selector (never a post-filter);
- a member of which the filter keeps fewer than ``exact_filter_fraction`` of its rows
  is left out, to its own exact search, as :meth:`AnnIndex.propose
  <slabdb.slab.ann_search.AnnIndex.propose>` would decide;
- the proposals are re-scored exactly from each member's float32 vectors (one
  matrix-vector product over the rows gathered from each), and checked against newer
  memtables as every source's rows are (``NamespaceView.current_rows``);
- the group declines (each slab is then searched on its own) when exact search is
  cheaper (a small filtered set), or for a query that gets fewer than
  ``min(k, candidates)`` current rows back.

:func:`search_groups` answers one query, :func:`search_groups_batch` a block of
queries with one faiss call per group (the filter, and so the plan, is the block's).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import faiss
import numpy as np
import numpy.typing as npt
from pyroaring import AbstractBitMap, BitMap

from slabdb.engine.code_groups import CodeGroup, MergedCodes
from slabdb.engine.sources import SlabSource
from slabdb.filters import Expr
from slabdb.query.scoring import dense_scores, top_k_rows
from slabdb.slab.ann import to_index_space
from slabdb.slab.ann_ivf import rerank_count
from slabdb.slab.ann_search import GATHERED_ROW_COST, search_cost, single_threaded_faiss
from slabdb.slab.search import candidate_bitmap, query_vector

if TYPE_CHECKING:
    from slabdb.engine.view import NamespaceView
    from slabdb.engine.view_batch import Candidates

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

Answer = tuple[list["Candidates"], tuple[int, ...]]
"""A group's candidates for one query, and the view positions they answer for."""
_EMPTY = BitMap()
_UNFILTERED = faiss.SearchParametersIVF(nprobe=1)  # type: ignore[call-arg]


@dataclass(frozen=True)
class _Plan:
    """How a group answers a filter: its joined members, and the faiss search."""

    group: CodeGroup
    readers: tuple[Any, ...]
    covered: tuple[int, ...]
    candidates: int
    params: Any
    """faiss search parameters (with the ID selector when there is one)."""
    keep_alive: tuple[Any, ...] = ()
    """The selector and its bitset, which ``params`` points to."""


def search_groups(
    view: NamespaceView, vector: F32 | None, metric: str, k: int, expr: Expr | None
) -> tuple[list[Candidates], frozenset[int]]:
    """Candidates of every group that answers the query, and the positions they cover
    (:func:`search_groups_batch` of one query)."""
    if vector is None:
        return [], frozenset()
    ((found, covered),) = search_groups_batch(view, vector.reshape(1, -1), metric, k, expr)
    return found, frozenset(covered)


def search_groups_batch(
    view: NamespaceView, vectors: F32, metric: str, k: int, expr: Expr | None
) -> list[tuple[list[Candidates], set[int]]]:
    """:func:`search_groups` of each row of ``vectors``: one faiss call per group."""
    out: list[tuple[list[Candidates], set[int]]] = [([], set()) for _ in range(len(vectors))]
    for group in view.code_groups:
        if group.params.metric != metric:
            continue
        for (cands, covered), found in zip(
            out, search_group_batch(view, group, vectors, metric, k, expr), strict=True
        ):
            if found is not None:
                cands += found[0]
                covered.update(found[1])
    return out


def search_group_batch(
    view: NamespaceView, group: CodeGroup, vectors: F32, metric: str, k: int, expr: Expr | None
) -> list[Answer | None]:
    """The group's answer to each row of ``vectors`` (dense queries of its metric)."""
    plan = _plan(view, group, k, expr)
    if plan is None or not plan.candidates:
        return [None if plan is None else ([], plan.covered)] * len(vectors)
    queries = np.stack([_query(plan, v, metric) for v in vectors])
    want = rerank_count(k, group.params.rerank)
    single_threaded_faiss()
    labels = group.merged.index.search(to_index_space(queries, metric), want, params=plan.params)[1]
    answers: list[Answer | None] = []
    for query, row in zip(queries, labels, strict=True):
        found = _reranked(view, plan, query, metric, k, row[row >= 0].astype(np.int64))
        current = sum(len(rows) for _pos, rows, _scores in found)
        answers.append((found, plan.covered) if current >= min(k, plan.candidates) else None)
    return answers


def _plan(view: NamespaceView, group: CodeGroup, k: int, expr: Expr | None) -> _Plan | None:
    """:func:`_new_plan`, remembered by the (immutable) view for unfiltered queries."""
    if expr is not None:
        return _new_plan(view, group, k, expr)
    key = (id(group), k)  # the view holds its groups: ids stay theirs
    if key not in view.group_plans:
        view.group_plans[key] = _new_plan(view, group, k, None)
    plan: _Plan | None = view.group_plans[key]
    return plan


def _new_plan(view: NamespaceView, group: CodeGroup, k: int, expr: Expr | None) -> _Plan | None:
    """The joined members and the faiss search for ``expr``; None: the group declines."""
    readers = tuple(_slab(view, pos).reader for pos in group.positions)
    fraction = group.params.exact_filter_fraction
    allowed = [_candidates(view, pos, expr) for pos in group.positions]
    joined = [
        len(bits) >= fraction * rows for bits, rows in zip(allowed, group.member_rows, strict=True)
    ]
    if not any(joined):
        return None
    allowed = [bits if j else _EMPTY for bits, j in zip(allowed, joined, strict=True)]
    covered = tuple(pos for pos, j in zip(group.positions, joined, strict=True) if j)
    m = sum(len(bits) for bits in allowed)
    if m and min(GATHERED_ROW_COST * m, group.merged.end) < search_cost(group.params, k, 1.0):
        return None  # a small filtered set: exact search is cheaper
    if m == group.params.rows:  # every indexed row allowed: no selector
        return _Plan(group, readers, covered, m, _UNFILTERED)
    mask = _mask(group.merged, allowed, readers)
    selector = faiss.IDSelectorBitmap(len(mask) * 8, faiss.swig_ptr(mask))
    params = faiss.SearchParametersIVF(nprobe=1, sel=selector)  # type: ignore[call-arg]
    return _Plan(group, readers, covered, m, params, (selector, mask))


def _query(plan: _Plan, vector: F32, metric: str) -> F32:
    query = query_vector(plan.readers[0], vector, None, metric)
    assert query is not None
    return query


def _reranked(
    view: NamespaceView, plan: _Plan, query: F32, metric: str, k: int, labels: I64
) -> list[Candidates]:
    """The best ``k`` proposals (and any tied with the k-th) by exact score, those a
    newer memtable supersedes left out; per member, best first."""
    labels.sort()  # by member, then row
    group, starts = plan.group, plan.group.merged.starts
    cuts = [*np.searchsorted(labels, starts).tolist(), len(labels)]
    owners: list[int] = []
    parts, vectors, norms = [], [], []
    for j, (a, b) in enumerate(itertools.pairwise(cuts)):
        if a == b:
            continue
        rows = labels[a:b] - starts[j]
        pos = group.positions[j]
        if view.known_shadows(pos) is None:  # a newer memtable may hold some of them
            rows = rows[view.current_rows(pos, rows)]
        owners += [pos] * len(rows)
        parts.append(rows)
        vectors.append(plan.readers[j].vector_rows(rows))
        norms.append(plan.readers[j].norms[rows])
    if not parts:
        return []
    scores = dense_scores(np.concatenate(vectors), np.concatenate(norms), query, metric)
    order = top_k_rows(scores, len(scores), metric).tolist()  # best first, stable
    rows = np.concatenate(parts)
    cut = min(k, len(order))
    while cut < len(order) and scores[order[cut]] == scores[order[cut - 1]]:
        cut += 1  # ties with the k-th are the view's to break (by id)
    picked: dict[int, list[int]] = {}
    for i in order[:cut]:
        picked.setdefault(owners[i], []).append(i)
    return [(pos, rows[at], scores[at]) for pos, at in picked.items()]


def _candidates(view: NamespaceView, pos: int, expr: Expr | None) -> AbstractBitMap:
    """The member's live rows matching the filter, minus those newer slabs supersede."""
    src = _slab(view, pos)
    if not src.may_match(expr):
        return _EMPTY
    allow = None if expr is None else src.reader.filter_bitmap(expr)
    return candidate_bitmap(src.reader, allow, view.known_shadows(pos))


def _slab(view: NamespaceView, pos: int) -> SlabSource:
    src = view.sources[pos]
    assert isinstance(src, SlabSource)
    return src


def _mask(
    merged: MergedCodes, allowed: Sequence[AbstractBitMap], readers: Sequence[Any]
) -> npt.NDArray[np.uint8]:
    """The members' allowed rows as one packed bitset over the merged index's ids."""
    parts = []
    for j, (bits, reader) in enumerate(zip(allowed, readers, strict=True)):
        ann = reader.ann_index()
        packed = ann.selector_bits(bits, reader.n)
        span = merged.span(j)
        parts.append(np.pad(packed, (0, span - len(packed))) if len(packed) < span else packed)
    return np.concatenate(parts)
