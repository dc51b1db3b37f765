"""Remembered filter results of one immutable slab: a filter's rows never change.

Real workloads repeat filters (a tenant, a category, a date range): a slab keeps the
bitmaps of the last :data:`FILTER_ENTRIES` filters it evaluated
(:class:`FilterBitmaps`, keyed by the expression's ``repr``, which tells ``True`` from
``1.0`` where the dataclasses' equality does not), and its ANN index keeps the packed
selector bitsets of the last :data:`PACKED_ENTRIES` candidate sets
(:class:`PackedSelectors`, compared by value: equal bitmaps, equal bitsets).  Both
are thread-safe and bounded: a 100k-row slab's entry is at most ~12.5 KB.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from pyroaring import AbstractBitMap, FrozenBitMap

from slabdb.filters.ast import Expr
from slabdb.filters.bitsets import packed_bits

FILTER_ENTRIES = 32
"""Filters whose bitmaps one slab remembers."""
PACKED_ENTRIES = 4
"""Candidate sets whose packed selector bitsets one ANN index remembers."""


class FilterBitmaps:
    """The bitmaps of a slab's most recent filters (least recently used dropped)."""

    def __init__(self, entries: int = FILTER_ENTRIES) -> None:
        self._entries = entries
        self._lock = threading.Lock()
        self._bitmaps: OrderedDict[str, FrozenBitMap] = OrderedDict()

    def get(self, expr: Expr, compute: Callable[[], AbstractBitMap]) -> FrozenBitMap:
        """``expr``'s bitmap, from ``compute`` the first time (not under the lock)."""
        key = repr(expr)
        with self._lock:
            hit = self._bitmaps.get(key)
            if hit is not None:
                self._bitmaps.move_to_end(key)
                return hit
        found = FrozenBitMap(compute())
        with self._lock:
            self._bitmaps[key] = found
            while len(self._bitmaps) > self._entries:
                self._bitmaps.popitem(last=False)
        return found


class PackedSelectors:
    """:func:`~slabdb.filters.bitsets.packed_bits` of the most recent candidate sets."""

    def __init__(self, entries: int = PACKED_ENTRIES) -> None:
        self._entries = entries
        self._lock = threading.Lock()
        self._packed: list[tuple[FrozenBitMap, npt.NDArray[np.uint8]]] = []

    def get(self, bitmap: AbstractBitMap, n_rows: int) -> npt.NDArray[np.uint8]:
        """``bitmap`` packed over ``n_rows`` rows (read only: faiss reads it)."""
        size = len(bitmap)
        with self._lock:
            for at, (known, packed) in enumerate(self._packed):
                if len(known) == size and len(packed) == -(-n_rows // 8) and known == bitmap:
                    self._packed.append(self._packed.pop(at))  # most recent last
                    return packed
        packed = packed_bits(bitmap, n_rows)
        packed.flags.writeable = False
        with self._lock:
            self._packed.append((FrozenBitMap(bitmap), packed))
            del self._packed[: -self._entries]
        return packed
