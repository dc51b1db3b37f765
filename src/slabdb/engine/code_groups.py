"""Flat-coded slabs that share a codebook, searched as one index.

An L0 flush encodes its flat codes with the trained quantizers of the namespace's
newest flat-coded slab (``Namespace._codebook``), so their codes are comparable.  A
view groups its slabs by codebook (:func:`view_groups`); each group of two or more is
one merged faiss index, built once per set of slabs by the namespace's
:class:`CodeGroupCache` (and extended, not rebuilt, when a flush adds a slab), and
searched in one call.  Ten 10k-row slabs then cost what one 100k-row slab costs,
where ten searches of their own cost over twice that plus ten re-ranks
(``docs/design/ann.md``, "L0 slabs as one index").

A group answers what its slabs would answer one by one:

- each member's candidates are its live rows that match the filter, minus the rows a
  newer slab supersedes (the view's cached pairs); if any member has fewer candidates
  than indexed rows, their bitmaps, concatenated at byte-aligned offsets, are the
  merged index's ID selector (never a post-filter);
- the proposals are re-scored exactly from each member's float32 vectors, and checked
  against newer memtables as every source's rows are (``NamespaceView.keep_current``);
- the group declines (None: each slab is searched on its own) when exact search is
  cheaper (a selective filter), or when fewer than ``min(k, candidates)`` current rows
  come back.

The re-rank depth of a group is its members' median tuned depth scaled by
(rows / largest member's rows) ** :data:`DEPTH_EXPONENT`, rounded up on the flat ladder.
"""

from __future__ import annotations

import itertools
import statistics
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import faiss
import numpy as np
import numpy.typing as npt
from pyroaring import AbstractBitMap, BitMap

from slabdb.engine.sources import SlabSource
from slabdb.filters.bitsets import packed_bits
from slabdb.query.scoring import dense_scores, top_k_rows
from slabdb.slab.ann import AnnParams, to_index_space
from slabdb.slab.ann_ivf import FLAT_RERANK_LADDER, rerank_count
from slabdb.slab.ann_merge import appended
from slabdb.slab.ann_search import GATHERED_ROW_COST, AnnIndex, search_cost
from slabdb.slab.search import candidate_bitmap, query_vector

if TYPE_CHECKING:
    from slabdb.engine.view import NamespaceView, _Search
    from slabdb.engine.view_batch import Candidates

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

DEPTH_EXPONENT = 0.3
"""How the re-rank depth grows with the rows searched: tuned flat slabs of MiniLM rows
need 50 at 10k and 100 at 100k rows (10x the rows, 2x the depth: 10 ** 0.3 ≈ 2)."""
CACHED_GROUPS = 2
"""Merged indexes a namespace keeps (the newest set of slabs, and the one before it
while older views still answer)."""
_EMPTY = BitMap()


@dataclass(frozen=True)
class MergedCodes:
    """One faiss index holding several slabs' codes: slab ``slab_ids[j]``'s row ``r`` is
    faiss id ``starts[j] + r``.  Starts are multiples of 8, so the members' packed
    bitsets, each padded to its span, concatenate into the index's."""

    slab_ids: tuple[str, ...]
    starts: I64
    end: int
    """One past the last member's last row."""
    index: Any

    def span(self, j: int) -> int:
        """Bytes of member ``j``'s part of a packed bitset over the faiss ids."""
        nxt = int(self.starts[j + 1]) if j + 1 < len(self.starts) else -(-self.end // 8) * 8
        return (nxt - int(self.starts[j])) // 8


class CodeGroupCache:
    """The merged indexes of a namespace's codebook groups (owned by the namespace,
    shared by its views); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[frozenset[str], MergedCodes] = {}
        self.builds = 0
        """Merged indexes built or extended (a counter for tests)."""

    def merged(self, members: Sequence[tuple[str, AnnIndex, int]]) -> MergedCodes:
        """The merged index of ``members`` ((slab id, its index, its row count)): from
        the cache, else the largest cached subset extended by the rest."""
        key = frozenset(slab_id for slab_id, _ann, _n in members)
        with self._lock:
            hit = self._entries.pop(key, None)
            if hit is None:
                base = max(
                    (m for k, m in self._entries.items() if k < key),
                    key=lambda m: len(m.slab_ids),
                    default=None,
                )
                have = set(base.slab_ids) if base is not None else set()
                hit = _extended(base, [m for m in members if m[0] not in have])
                self.builds += 1
            self._entries[key] = hit  # most recently used last
            while len(self._entries) > CACHED_GROUPS:
                del self._entries[next(iter(self._entries))]
            return hit

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _extended(base: MergedCodes | None, new: Sequence[tuple[str, AnnIndex, int]]) -> MergedCodes:
    """``base`` (None: nothing) with ``new``'s codes appended, as a new index: ``base``
    stays as it is for the views still searching it."""
    ids = [] if base is None else list(base.slab_ids)
    starts = [] if base is None else base.starts.tolist()
    end = 0 if base is None else base.end
    parts = []
    for slab_id, ann, n_rows in new:
        start = -(-end // 8) * 8
        parts.append((ann.faiss_index, start))
        ids.append(slab_id)
        starts.append(start)
        end = start + n_rows
    index = appended(None if base is None else base.index, parts)
    return MergedCodes(tuple(ids), np.asarray(starts, dtype=np.int64), end, index)


@dataclass(frozen=True)
class CodeGroup:
    """Slabs of one view whose flat codes share a codebook (two or more)."""

    positions: tuple[int, ...]
    """View positions of the members, in the merged index's order."""
    merged: MergedCodes
    params: AnnParams
    """The group as one flat index: its rows, re-rank depth and filter threshold."""
    member_rows: tuple[int, ...]
    """Rows each member's index holds (its live rows)."""


def view_groups(view: NamespaceView, cache: CodeGroupCache) -> tuple[CodeGroup, ...]:
    """The view's groups of two or more non-empty slabs with a shared codebook."""
    by_book: dict[str, list[tuple[int, SlabSource, AnnIndex]]] = {}
    for pos in view.searched_positions:
        src = view.sources[pos]
        if not isinstance(src, SlabSource) or not src.reader.has_ann:
            continue
        ann = src.reader.ann_index()
        if ann is not None and ann.codebook:
            by_book.setdefault(ann.codebook, []).append((pos, src, ann))
    groups = []
    for members in by_book.values():
        if len(members) < 2:
            continue
        merged = cache.merged([(src.slab_id, ann, src.reader.n) for _p, src, ann in members])
        order = {slab_id: j for j, slab_id in enumerate(merged.slab_ids)}
        members.sort(key=lambda m: order[m[1].slab_id])
        positions = tuple(pos for pos, _src, _ann in members)
        member_params = [ann.params for _p, _src, ann in members]
        params = _group_params(member_params)
        groups.append(CodeGroup(positions, merged, params, tuple(p.rows for p in member_params)))
    return tuple(groups)


def _group_params(members: Sequence[AnnParams]) -> AnnParams:
    """The members as one flat index: their rows, the depth scaled to them."""
    rows = sum(p.rows for p in members)
    largest = max(max(p.rows for p in members), 1)
    depth = statistics.median_low(p.rerank for p in members) * (rows / largest) ** DEPTH_EXPONENT
    tuned = next((d for d in FLAT_RERANK_LADDER if d >= depth), FLAT_RERANK_LADDER[-1])
    return replace(members[0], rows=rows, rerank=tuned)


def search_groups(view: NamespaceView, req: _Search) -> tuple[list[Candidates], frozenset[int]]:
    """Candidates of every group that answers ``req``, and the positions they cover."""
    out: list[Candidates] = []
    covered: set[int] = set()
    if req.vector is None or req.sparse is not None:
        return out, frozenset()
    for group in view.code_groups:
        if group.params.metric != req.metric:
            continue
        found = search_group(view, group, req)
        if found is not None:
            out += found[0]
            covered.update(found[1])
    return out, frozenset(covered)


def search_group(
    view: NamespaceView, group: CodeGroup, req: _Search
) -> tuple[list[Candidates], tuple[int, ...]] | None:
    """The group's current candidates for ``req`` (a dense query of the group's metric)
    and the positions they answer for, or None when its slabs should be searched one
    by one.  A member of which the filter keeps fewer than ``exact_filter_fraction`` of
    the rows is left to its own, exact, search (as :meth:`AnnIndex.propose
    <slabdb.slab.ann_search.AnnIndex.propose>` would decide)."""
    readers = [_slab(view, pos).reader for pos in group.positions]
    query = query_vector(readers[0], req.vector, None, req.metric)
    assert query is not None
    params, k = group.params, req.top_k
    allowed = [_candidates(view, pos, req) for pos in group.positions]
    joined = tuple(
        j
        for j, (bits, rows) in enumerate(zip(allowed, group.member_rows, strict=True))
        if len(bits) >= params.exact_filter_fraction * rows
    )
    if not joined:
        return None
    covered = tuple(group.positions[j] for j in joined)
    for j in set(range(len(allowed))) - set(joined):
        allowed[j] = _EMPTY
    m = sum(len(c) for c in allowed)
    if m == 0:
        return [], covered
    if min(GATHERED_ROW_COST * m, group.merged.end) < search_cost(params, k, 1.0):
        return None  # a small filtered set: exact search is cheaper
    selector = _selector(group.merged, allowed, readers) if m < params.rows else None
    want = rerank_count(k, params.rerank)
    labels = _search(group.merged.index, query, req.metric, want, selector)
    out = _reranked(view, group, readers, query, req.metric, k, labels)
    current = sum(len(rows) for _pos, rows, _scores in out)
    return (out, covered) if current >= min(k, m) else None


def _reranked(
    view: NamespaceView,
    group: CodeGroup,
    readers: Sequence[Any],
    query: F32,
    metric: str,
    k: int,
    labels: I64,
) -> list[Candidates]:
    """The best ``k`` proposals (and any tied with the k-th) by exact score, those a
    newer memtable supersedes left out: one matrix-vector product over the rows
    gathered from each member; per member, best first."""
    labels.sort()  # by member, then row
    starts = group.merged.starts
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
        vectors.append(readers[j].vector_rows(rows))
        norms.append(readers[j].norms[rows])
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


def _candidates(view: NamespaceView, pos: int, req: _Search) -> AbstractBitMap:
    """The member's live rows matching the filter, minus those newer slabs supersede."""
    src = _slab(view, pos)
    if not src.may_match(req.expr):
        return _EMPTY
    allow = None if req.expr is None else src.reader.filter_bitmap(req.expr)
    return candidate_bitmap(src.reader, allow, view.known_shadows(pos))


def _slab(view: NamespaceView, pos: int) -> SlabSource:
    src = view.sources[pos]
    assert isinstance(src, SlabSource)
    return src


def _selector(
    merged: MergedCodes, allowed: Sequence[AbstractBitMap], readers: Sequence[Any]
) -> Any:
    parts = []
    for j, (bits, reader) in enumerate(zip(allowed, readers, strict=True)):
        packed = packed_bits(bits, reader.n)
        span = merged.span(j)
        parts.append(np.pad(packed, (0, span - len(packed))) if len(packed) < span else packed)
    mask = np.concatenate(parts)
    return mask, faiss.IDSelectorBitmap(len(mask) * 8, faiss.swig_ptr(mask))


_UNFILTERED = faiss.SearchParametersIVF(nprobe=1)  # type: ignore[call-arg]


def _search(index: Any, query: Any, metric: str, want: int, selector: Any) -> I64:
    """Faiss ids of the merged index's best ``want`` codes (allowed by ``selector``)."""
    params = _UNFILTERED
    if selector is not None:
        params = faiss.SearchParametersIVF(nprobe=1, sel=selector[1])  # type: ignore[call-arg]
    q = to_index_space(query.reshape(1, -1), metric)
    labels = index.search(q, want, params=params)[1][0]
    return labels[labels >= 0].astype(np.int64, copy=False)
