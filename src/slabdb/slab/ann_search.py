"""A slab's loaded ANN index (HNSW or IVF-PQ): deserialize, decide, search.

:class:`AnnIndex` loads the sections :mod:`slabdb.slab.ann` built, decides per query
whether the graph or an exact search answers (:meth:`AnnIndex.propose`), and proposes
candidate rows for the exact re-rank.  The tuned ``efSearch`` widens with k and with
1/sqrt(selectivity) of the filter (:func:`ef_for`).
"""

from __future__ import annotations

import math
import threading
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt
from pyroaring import AbstractBitMap

from slabdb.core.errors import CorruptionError
from slabdb.filters.cache import PackedSelectors
from slabdb.slab import ann_ivf as ivf
from slabdb.slab.ann import TUNING_K, AnnParams, to_index_space

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

MAX_EF_SEARCH = 4096
"""Cap of the widened beam (filters, large k); beyond it the exact path is cheaper."""
GATHERED_ROW_COST = 6
"""Scoring a gathered (pre-filtered) row costs about this many rows of a whole-slab scan
(the gather copies the row: ~300 ns against ~50 ns per row in one matrix-vector pass)."""
MIN_CANDIDATES = TUNING_K
"""At least this many candidates are re-ranked even for k < 10."""


_THREAD = threading.local()


def single_threaded_faiss() -> None:
    """Run faiss on one OpenMP thread in the calling thread (OpenMP settings are per
    thread, so a server's or an application's own threads would otherwise each start a
    team of one thread per core for every search: callers x cores spinning threads)."""
    if not getattr(_THREAD, "single", False):
        faiss.omp_set_num_threads(1)
        _THREAD.single = True


class AnnIndex:
    """A slab's loaded ANN index (HNSW or IVF-PQ); thread-safe for concurrent searches."""

    def __init__(self, params: AnnParams, index: Any) -> None:
        self.params = params
        self._index = index
        self._unfiltered_params: dict[int, Any] = {}
        self._unfiltered_cost: dict[int, float] = {}
        self._selectors = PackedSelectors()

    @classmethod
    def load(
        cls, params_raw: memoryview | None, index_arr: npt.NDArray[Any] | None, dim: int
    ) -> AnnIndex:
        """Deserialize the sections; :class:`CorruptionError` when they do not make sense."""
        if params_raw is None or index_arr is None:
            raise CorruptionError("slab ANN index is incomplete (a section is missing)")
        params = AnnParams.from_bytes(params_raw)
        try:
            index = faiss.deserialize_index(np.array(index_arr, dtype=np.uint8, copy=True))
        except RuntimeError as exc:
            raise CorruptionError(f"slab ANN index does not load: {exc}") from exc
        if index.ntotal != params.rows or index.d != dim:
            raise CorruptionError("slab ANN index does not match the slab")
        return cls(params, index)

    def propose(
        self, query: F32, k: int, candidates: AbstractBitMap, n_rows: int, live_rows: int
    ) -> I64 | None:
        """Candidate rows for a top-``k`` query restricted to ``candidates``, or None.

        None means "search exactly": the candidates are too few (below the index's
        ``exact_filter_fraction`` of its rows, or an exact search of them costs less
        than the widened ANN search plus its re-rank), or the index found fewer than
        ``min(k, len(candidates))`` of them.
        """
        return self.propose_batch(query.reshape(1, -1), k, candidates, n_rows, live_rows)[0]

    def propose_batch(
        self, queries: F32, k: int, candidates: AbstractBitMap, n_rows: int, live_rows: int
    ) -> list[I64 | None]:
        """:meth:`propose` for each row of ``queries`` (nq, dim), from one index search
        (faiss spreads the queries over the calling thread's OpenMP threads)."""
        m = len(candidates)
        selectivity = m / self.params.rows if self.params.rows else 0.0
        if selectivity < self.params.exact_filter_fraction:
            return [None] * len(queries)
        exact_cost = min(GATHERED_ROW_COST * m, n_rows)  # in whole-scan rows
        if exact_cost < self._cost(k, selectivity, unfiltered=m == live_rows):
            return [None] * len(queries)
        bits = None
        if m < live_rows:  # a filter or excluded rows: the index's ID selector
            bits = self.selector_bits(candidates, n_rows)
        need = min(k, m)
        found = self.candidates_batch(queries, k, bits, selectivity)
        return [rows if len(rows) >= need else None for rows in found]

    @property
    def is_ivf(self) -> bool:
        return self.params.kind == ivf.IVF_KIND

    def selector_bits(self, candidates: AbstractBitMap, n_rows: int) -> npt.NDArray[np.uint8]:
        """``candidates`` as the packed bitset of faiss's ID selector (remembered for the
        last few candidate sets: a repeated filter packs once)."""
        return self._selectors.get(candidates, n_rows)

    @property
    def codebook(self) -> str:
        """The flat codes' codebook digest ("" for other indexes: only flat codes get one)."""
        return self.params.codebook

    @property
    def faiss_index(self) -> Any:
        """The loaded faiss index (read only: searches share it)."""
        return self._index

    def empty_copy(self) -> Any:
        """A copy of the index with its quantizers trained and no rows: a newer slab's
        flat codes encoded with it are comparable with this slab's."""
        copy = faiss.clone_index(self._index)
        copy.reset()
        return copy

    def _cost(self, k: int, selectivity: float, *, unfiltered: bool) -> float:
        """:meth:`_search_cost`, remembered per k for unfiltered queries."""
        if not unfiltered:
            return self._search_cost(k, selectivity)
        cost = self._unfiltered_cost.get(k)
        if cost is None:
            cost = self._unfiltered_cost[k] = self._search_cost(k, selectivity)
        return cost

    def _search_cost(self, k: int, selectivity: float) -> float:
        return search_cost(self.params, k, selectivity)

    def candidates(
        self, query: F32, k: int, allowed_bits: npt.NDArray[np.uint8] | None, selectivity: float
    ) -> I64:
        """Rows the index proposes for a top-``k`` ``query`` (sorted by row), to re-rank.

        ``allowed_bits`` is a little-endian packed bitmap over the slab's rows (faiss
        ``IDSelectorBitmap``): the index then only returns allowed rows, and the search
        widens with 1/selectivity (:func:`ef_for`, :func:`~slabdb.slab.ann_ivf.nprobe_for`)
        so enough of them are reached.
        """
        return self.candidates_batch(query.reshape(1, -1), k, allowed_bits, selectivity)[0]

    def candidates_batch(
        self,
        queries: F32,
        k: int,
        allowed_bits: npt.NDArray[np.uint8] | None,
        selectivity: float,
    ) -> list[I64]:
        """:meth:`candidates` of each row of ``queries`` (nq, dim), one index search."""
        selector = None
        if allowed_bits is not None:
            selector = faiss.IDSelectorBitmap(len(allowed_bits) * 8, faiss.swig_ptr(allowed_bits))
        q = to_index_space(queries, self.params.metric)
        single_threaded_faiss()
        if self.is_ivf:
            width = ivf.nprobe_for(self.params.ef_search, k, selectivity, self.params.nlist)
            want = ivf.rerank_count(k, self.params.rerank)
        else:
            want = candidate_count(k)
            width = ef_for(self.params.ef_search, want, selectivity)
        labels = self._index.search(q, want, params=self._search_params(width, selector))[1]
        return [np.sort(rows[rows >= 0]).astype(np.int64, copy=False) for rows in labels]

    def _search_params(self, width: int, selector: Any) -> Any:
        """faiss search parameters (efSearch, or nprobe for IVF); those without a selector
        are made once per width (faiss only reads them, so threads share them)."""
        if selector is None:
            params = self._unfiltered_params.get(width)
            if params is not None:
                return params
        if self.is_ivf:
            params = faiss.SearchParametersIVF(nprobe=width, sel=selector)  # type: ignore[call-arg]
        else:
            params = faiss.SearchParametersHNSW(efSearch=width, sel=selector)  # type: ignore[attr-defined]
        if selector is None:
            self._unfiltered_params[width] = params
        return params


def search_cost(params: AnnParams, k: int, selectivity: float) -> float:
    """A top-``k`` search of the index ``params`` describes, in rows of an exact
    whole-slab scan: the widened beam of a graph, or the re-rank depth (6 a row) plus
    the scanned codes (1/16 a code) of IVF and flat codes."""
    if params.kind != ivf.IVF_KIND:
        return params.exact_rows_per_ef * ef_for(params.ef_search, candidate_count(k), selectivity)
    nprobe = ivf.nprobe_for(params.ef_search, k, selectivity, params.nlist)
    scanned = ivf.scanned_codes(nprobe, params.rows, params.nlist)
    depth = ivf.rerank_count(k, params.rerank)
    return GATHERED_ROW_COST * depth + ivf.FAST_SCAN_CODE_COST * scanned


def ef_for(tuned: int, k: int, selectivity: float) -> int:
    """efSearch for one query: the tuned width, scaled by k/10 and 1/sqrt(selectivity).

    Measured at 100k MiniLM rows (docs/design/ann.md): a 10 % selector needs ~3x the
    unfiltered beam for the same recall, a 50 % one ~1.4x.
    """
    scale = max(1.0, k / TUNING_K) / math.sqrt(max(selectivity, 1e-6))
    return int(min(max(tuned * scale, k), max(MAX_EF_SEARCH, k)))


def candidate_count(k: int) -> int:
    """Candidates asked of the graph for a top-``k`` query (re-ranked exactly)."""
    return max(k, MIN_CANDIDATES)
