"""Flat-coded slabs that share a codebook, searched as one index.

An L0 flush encodes its flat codes with the trained quantizers of the namespace's
newest flat-coded slab (``Namespace._codebook``), so their codes are comparable.  A
view groups its slabs by codebook (:func:`view_groups`); each group of two or more is
one merged faiss index, built once per set of slabs by the namespace's
:class:`CodeGroupCache` (and extended, not rebuilt, when a flush adds a slab), and
searched in one call.  Ten 10k-row slabs then cost what one 100k-row slab costs,
where ten searches of their own cost over twice that plus ten re-ranks
(``docs/design/ann.md``, "L0 slabs as one index").

How a group is searched is :mod:`slabdb.engine.group_search`'s.

The re-rank depth of a group is its members' median tuned depth scaled by
(rows / largest member's rows) ** :data:`DEPTH_EXPONENT`, rounded up on the flat ladder.
"""

from __future__ import annotations

import statistics
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from slabdb.engine.sources import SlabSource
from slabdb.slab.ann import AnnParams
from slabdb.slab.ann_ivf import FLAT_RERANK_LADDER
from slabdb.slab.ann_merge import appended
from slabdb.slab.ann_search import AnnIndex

if TYPE_CHECKING:
    from slabdb.engine.view import NamespaceView

I64 = npt.NDArray[np.int64]

DEPTH_EXPONENT = 0.3
"""How the re-rank depth grows with the rows searched: tuned flat slabs of MiniLM rows
need 50 at 10k and 100 at 100k rows (10x the rows, 2x the depth: 10 ** 0.3 ≈ 2)."""
CACHED_GROUPS = 4
"""Merged indexes a namespace keeps: the newest set of slabs of each codebook (rarely
more than one or two), and the set before it while older views still answer."""


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
