"""The large-slab ANN index: faiss IVF with 4-bit PQ fast-scan codes, re-ranked exactly.

A slab of at least ``AnnConfig.ivf_min_rows`` live rows gets ``IVF{nlist},PQ{m}x4fs``
instead of HNSW: ``m = dim / 2`` sub-quantizers of 4 bits, i.e. ``dim / 4`` bytes per
row in memory (96 B at 384-d; the serialized index is ~0.13 KB per row with its ids and
block padding) against HNSWFlat's second float32 copy plus graph (1.8 KB per row).
The codes only rank; :func:`rerank_count` candidates are re-scored exactly from the
slab's float32 vectors (memory-mapped or fetched by page, never resident as a whole).

``nlist`` = 2·√rows lists, trained on :data:`TRAIN_POINTS_PER_LIST` sampled rows per
list; rows are added in chunks of :data:`ADD_CHUNK_ROWS`, so the build never holds a
second copy of every vector.  Two widths are tuned per slab at build time
(``slabdb.slab.ann``): the re-rank depth (:data:`RERANK_LADDER`, at nprobe
:data:`TUNING_NPROBE`), then the smallest nprobe reaching the goal at that depth.  At
query time nprobe widens by k/10 and by 1/selectivity of the filter
(:func:`nprobe_for`), the depth by k/10; the filter is faiss's ID selector inside the
scan, never a post-filter.

Small slabs (``AnnConfig.flat_min_rows`` up to ``min_rows`` live rows: L0 flushes) get
the same kind of index with one list, ``IVF1,PQ{dim/4}x4fs`` (:func:`new_flat_index`):
every code is scanned (nprobe 1, with the filter as the selector), so only the re-rank
depth is tuned (:data:`FLAT_RERANK_LADDER`).  Its PQ trains on at most
:data:`PQ_TRAIN_ROWS` rows in :data:`FLAT_PQ_TRAIN_ITERATIONS` k-means iterations
(~0.2 s at 10k × 384, where a graph takes ~1 s).
"""

from __future__ import annotations

import math
from typing import Any

import faiss

IVF_KIND = "ivfpq"
NPROBE_LADDER = (4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)
"""nprobe values tried at build time, smallest first."""
RERANK_LADDER = (100, 200, 300, 500, 800, 1200, 2000)
"""Candidates re-ranked exactly for a top-10 query, tried smallest first at build time
(4-bit codes rank coarsely: on clustered 384-d data 100 candidates hold ~80 % of the
true top 10, 300 ~95 %, 1000 ~99.9 %; docs/design/ann.md)."""
TUNING_NPROBE = 64
"""nprobe while the re-rank depth is tuned (then nprobe is tuned at that depth)."""
TRAIN_POINTS_PER_LIST = 40
"""Training sample per inverted list (faiss warns below 39)."""
ADD_CHUNK_ROWS = 65_536
"""Rows encoded per call while adding (bounds the build's extra memory)."""
PQ_TRAIN_ROWS = 4096
"""Rows the PQ codebooks train on at least (faiss samples 256 per centroid of the 16)."""
FLAT_RERANK_LADDER = (50, 100, 200, 300, 500, 800, 1200, 2000)
"""Re-rank depths tried for a flat (one-list) index, smallest first."""
FLAT_PQ_TRAIN_ITERATIONS = 10
"""k-means iterations of a flat index's PQ training (faiss's default 25 costs 2.5x the
time; the re-rank depth is tuned on the result either way)."""
FAST_SCAN_CODE_COST = 1 / 16
"""Scanning one 4-bit fast-scan code costs about this many rows of an exact scan."""


def nlist_for(rows: int) -> int:
    """Inverted lists for a slab of ``rows`` rows: 2·√rows, at least 16."""
    return max(16, int(2 * math.sqrt(rows)))


def pq_m_for(dim: int) -> int:
    """Sub-quantizers: two dimensions each (one each for an odd dimension)."""
    return dim // 2 if dim % 2 == 0 else dim


def new_index(dim: int, rows: int, faiss_metric: int) -> Any:
    """An untrained ``IVF{nlist},PQ{m}x4fs`` index for ``rows`` rows."""
    spec = f"IVF{nlist_for(rows)},PQ{pq_m_for(dim)}x4fs"
    return faiss.index_factory(dim, spec, faiss_metric)


def new_flat_index(dim: int, faiss_metric: int) -> Any:
    """An untrained one-list ``IVF1,PQ{m}x4fs`` index: m = dim/4 sub-quantizers of four
    dimensions each (``pq_m_for`` when dim is not a multiple of 4)."""
    m = dim // 4 if dim % 4 == 0 else pq_m_for(dim)
    index = faiss.index_factory(dim, f"IVF1,PQ{m}x4fs", faiss_metric)
    faiss.downcast_index(index).pq.cp.niter = FLAT_PQ_TRAIN_ITERATIONS  # type: ignore[attr-defined]
    return index


def train_rows(nlist: int) -> int:
    """Rows an index of ``nlist`` lists trains on (at most the slab's)."""
    return max(TRAIN_POINTS_PER_LIST * nlist, PQ_TRAIN_ROWS)


def rerank_count(k: int, tuned: int) -> int:
    """Candidates asked of the codes for a top-``k`` query (re-ranked exactly), from the
    slab's tuned depth for k = 10."""
    return math.ceil(tuned * max(k, 10) / 10)


def nprobe_for(tuned: int, k: int, selectivity: float, nlist: int) -> int:
    """nprobe for one query: the tuned value scaled by k/10 and 1/selectivity (a filter
    keeping a fraction s of the rows leaves s of each list, so s times fewer candidates
    per list), at most every list."""
    scale = max(1.0, k / 10) / max(selectivity, 1e-6)
    return int(min(nlist, max(1, math.ceil(tuned * scale))))


def scanned_codes(nprobe: int, rows: int, nlist: int) -> float:
    """Codes a search with ``nprobe`` scans, on average."""
    return nprobe * rows / max(nlist, 1)
