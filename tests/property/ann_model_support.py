"""Data, strategies and index facts for ``test_engine_model_ann.py``.

The bulk of each layout is drawn here: isotropic clusters for the HNSW and IVF-PQ
layouts, and for the flat layout vectors of product structure (each 4-d half near one
of :data:`HALF_CENTRES`), on which 8-d flat codes pay.  A flat index has
dim/4 = 2 sub-quantizers of 16 centroids here, 256 codes in all: on isotropic clusters
its tuned re-rank depth is n/8 to n/3 rows at every size and metric measured (500-16,000
rows at 8-d, 1,000-4,000 at 12-d and 16-d, 8-256 clusters), while the codes only beat
the exact scan below n/6.4 (6 x depth + n/16 < n): only some dotproduct slabs of
2,000-4,000 rows would take them.  On product data 2 x 4-bit codes quantize well: the
depth is 50-100 at 800 rows (200, where exact search is cheaper, in 1 of 30 builds).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st
from test_engine_model import WORDS

from slabdb.slab.ann import FLAT_KIND, HNSW_KIND, AnnParams
from slabdb.slab.ann_ivf import IVF_KIND
from slabdb.slab.reader import SlabReader

DIM = 8
"""8-d, not the base machine's 4: PQ codes of 4-d vectors (2 x 4 bits) rank so coarsely
that the tuned re-rank depth makes the exact search cheaper on every slab this size."""
GROUP_LAYOUT = "flat-group"
LAYOUTS = {FLAT_KIND: 800, GROUP_LAYOUT: 1600, HNSW_KIND: 1000, "ivf": 4000}
"""Bulk records per layout: one 800-row L0 slab (flat codes), two 800-row L0 slabs of
flat codes with one codebook (searched as one index: ``slabdb.engine.code_groups``),
one 1,000-row L0 slab (HNSW), or four 1,000-row L0 slabs (HNSW) compacted into one
4,000-row L1 slab (IVF-PQ)."""
FLUSHES = {GROUP_LAYOUT: 2}
"""Flushes a layout's bulk is split into (one if not listed)."""
KIND = {FLAT_KIND: FLAT_KIND, GROUP_LAYOUT: FLAT_KIND, HNSW_KIND: HNSW_KIND, "ivf": IVF_KIND}
"""The index label (``AnnParams.label``) a fresh layout's slabs carry."""
MAX_BULK = max(LAYOUTS.values())
CLUSTERS = 8
CENTRES = (2.0 * np.random.default_rng(7).standard_normal((CLUSTERS, DIM))).astype(np.float32)
NOISE = 0.4
HALF_CENTRES = (2.0 * np.random.default_rng(11).standard_normal((2, 8, DIM // 2))).astype(
    np.float32
)
"""Flat layout: each half of a vector lies near one of 8 half-centres (64 product cells)."""
FLAT_NOISE = 0.3
TOL = 1e-4

vectors = (
    st.lists(st.integers(-4, 4), min_size=DIM, max_size=DIM)
    .filter(any)
    .map(lambda xs: [x / 2 for x in xs])
)
bulk_ids = st.integers(0, MAX_BULK - 1).map(lambda i: f"b{i}")
near_centre = st.tuples(
    st.integers(0, CLUSTERS - 1), st.lists(st.integers(-3, 3), min_size=DIM, max_size=DIM)
).map(lambda t: (CENTRES[t[0]] + np.asarray(t[1], dtype=np.float32) / 4).tolist())
query_vectors = vectors | near_centre


def layout_vectors(layout: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` vectors of ``layout``'s distribution (also the probe queries)."""
    if layout in (FLAT_KIND, GROUP_LAYOUT):
        halves = rng.integers(0, HALF_CENTRES.shape[1], (2, n))
        centres = np.concatenate([HALF_CENTRES[0][halves[0]], HALF_CENTRES[1][halves[1]]], axis=1)
        return (centres + FLAT_NOISE * rng.standard_normal((n, DIM))).astype(np.float32)
    labels = rng.integers(0, CLUSTERS, n)
    return (CENTRES[labels] + NOISE * rng.standard_normal((n, DIM))).astype(np.float32)


def bulk_records(
    layout: str, n: int, seed: int
) -> tuple[list[str], np.ndarray, list[dict[str, Any]]]:
    """``n`` records of ``layout``'s distribution, with metadata of the same fields and
    types as hypothesis draws (each field present with probability 0.8)."""
    rng = np.random.default_rng(seed)
    vecs = layout_vectors(layout, n, rng)
    mds: list[dict[str, Any]] = []
    for _ in range(n):
        md = {
            "g": WORDS[int(rng.integers(len(WORDS)))],
            "n": int(rng.integers(0, 6)),
            "t": sorted(rng.choice(WORDS, size=int(rng.integers(1, 3)), replace=False).tolist()),
            "f": bool(rng.integers(2)),
        }
        mds.append({key: v for key, v in md.items() if rng.random() < 0.8})
    return [f"b{i}" for i in range(n)], vecs, mds


def index_params(reader: SlabReader) -> AnnParams:
    ann = reader.ann_index()
    assert ann is not None
    return ann.params


def better(metric: str, a: float, b: float) -> bool:
    """Score ``a`` is better than ``b`` by more than the tolerance."""
    margin = TOL * max(1.0, abs(b))
    return a < b - margin if metric == "euclidean" else a > b + margin
