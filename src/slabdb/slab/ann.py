"""A slab's approximate nearest-neighbour index: faiss HNSW, always re-ranked exactly.

Built by :class:`~slabdb.slab.builder.SlabBuilder` for dense slabs with at least
``AnnConfig.min_rows`` live rows; stored as two extra slab sections (checksummed like
every other section) and loaded the first time a query needs it:

==============  =====  ==============================================================
section         dtype  content
==============  =====  ==============================================================
``ann_params``  bytes  JSON :class:`AnnParams` (kind, metric, M, efConstruction, the
                       tuned efSearch, rows indexed, exact-filter fraction)
``ann_index``   |u1    ``faiss.serialize_index`` of ``IndexIDMap(IndexHNSWFlat)``;
                       faiss ids are slab row numbers; only live rows are indexed
==============  =====  ==============================================================

The graph lives in the space of the slab's metric: cosine indexes unit-normalized
vectors with inner product, dotproduct the raw vectors with inner product, euclidean
the raw vectors with L2.  The index only proposes candidate rows; the slab re-scores
them from its float32 ``vectors`` with :mod:`slabdb.query.scoring`, so returned scores
are exactly the exact search's.  The float32 vectors stay the source of truth: every
compaction rebuilds the index from them.

``efSearch`` is tuned per slab at build time: sample rows (their own row left out of
the truth and the answer) and midpoints of random row pairs are the queries, and
efSearch grows along :data:`EF_LADDER` until recall@10 reaches ``target_recall`` plus
:data:`TUNING_MARGIN`.  At query time the
beam widens with k and with 1/sqrt(selectivity) of the filter (:func:`ef_for`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt
from pyroaring import AbstractBitMap

from slabdb.core.config import AnnConfig
from slabdb.core.errors import CorruptionError

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

ANN_PARAMS_SECTION = "ann_params"
ANN_INDEX_SECTION = "ann_index"
ANN_SECTIONS = frozenset({ANN_PARAMS_SECTION, ANN_INDEX_SECTION})
ANN_FORMAT = 1
HNSW_KIND = "hnsw"

TUNING_K = 10
"""The k efSearch is tuned for (recall@10)."""
TUNING_MARGIN = 0.02
"""Tune for ``target_recall + margin``: the proxy queries (half easy sample rows, half
hard midpoints) are noisy estimates of real queries (docs/design/ann.md)."""
TUNING_QUERIES = 200
"""Sample rows used as tuning queries."""
EF_LADDER = (32, 48, 64, 96, 128, 192, 256, 384, 512)
"""efSearch values tried, smallest first (below 32, recall on real embeddings is < 0.95
at every slab size measured)."""
MAX_EF_SEARCH = 4096
"""Cap of the widened beam (filters, large k); beyond it the exact path is cheaper."""
GATHERED_ROW_COST = 6
"""Scoring a gathered (pre-filtered) row costs about this many rows of a whole-slab scan
(the gather copies the row: ~300 ns against ~50 ns per row in one matrix-vector pass)."""
MIN_CANDIDATES = TUNING_K
"""At least this many candidates are re-ranked even for k < 10."""

_FAISS_METRIC = {
    "cosine": faiss.METRIC_INNER_PRODUCT,
    "dotproduct": faiss.METRIC_INNER_PRODUCT,
    "euclidean": faiss.METRIC_L2,
}


@dataclass(frozen=True)
class AnnParams:
    """What a slab's ``ann_params`` section records about its index."""

    kind: str
    metric: str
    rows: int
    hnsw_m: int
    ef_construction: int
    ef_search: int
    exact_filter_fraction: float
    exact_rows_per_ef: float
    tuned_recall: float
    format: int = ANN_FORMAT

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes | memoryview) -> AnnParams:
        try:
            doc = json.loads(bytes(raw).decode("utf-8"))
            params = cls(**doc)
        except (ValueError, TypeError) as exc:
            raise CorruptionError(f"slab ANN parameters do not decode: {exc}") from exc
        if params.format != ANN_FORMAT or params.kind != HNSW_KIND:
            raise CorruptionError(f"unsupported slab ANN index {params.kind!r} v{params.format}")
        if params.metric not in _FAISS_METRIC or params.ef_search < 1 or params.rows < 0:
            raise CorruptionError("slab ANN parameters are invalid")
        return params


def to_index_space(vectors: F32, metric: str) -> F32:
    """Vectors as the graph sees them: unit length for cosine, as stored otherwise."""
    out = np.ascontiguousarray(vectors, dtype=np.float32)
    if metric != "cosine":
        return out
    norms = np.linalg.norm(out, axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        unit = np.where(norms > 0, out / norms, 0.0)
    return np.ascontiguousarray(unit, dtype=np.float32)


def build_ann_sections(
    vectors: F32, deleted: npt.NDArray[np.bool_], metric: str, config: AnnConfig | None
) -> dict[str, Any]:
    """The ANN sections for a dense slab, or ``{}`` when it is too small (or ANN is off)."""
    if config is None or not config.enabled:
        return {}
    live_rows = np.flatnonzero(~np.asarray(deleted, dtype=np.bool_)).astype(np.int64)
    if len(live_rows) < config.min_rows or len(live_rows) == 0:
        return {}
    space = to_index_space(vectors[live_rows], metric)
    graph = faiss.IndexHNSWFlat(space.shape[1], config.hnsw_m, _FAISS_METRIC[metric])
    graph.hnsw.efConstruction = config.ef_construction
    index = faiss.IndexIDMap(graph)
    index.add_with_ids(space, live_rows)
    ef, recall = _tune_ef_search(index, space, live_rows, metric, config.target_recall)
    params = AnnParams(
        kind=HNSW_KIND,
        metric=metric,
        rows=len(live_rows),
        hnsw_m=config.hnsw_m,
        ef_construction=config.ef_construction,
        ef_search=ef,
        exact_filter_fraction=config.exact_filter_fraction,
        exact_rows_per_ef=config.exact_rows_per_ef,
        tuned_recall=recall,
    )
    return {
        ANN_PARAMS_SECTION: params.to_bytes(),
        ANN_INDEX_SECTION: np.asarray(faiss.serialize_index(index), dtype=np.uint8),
    }


def _exact_neighbours(space: F32, queries: F32, metric: str, k: int) -> I64:
    """Positions (into ``space``) of each query's exact top ``k``, in the graph's space."""
    if metric == "euclidean":
        sq = np.einsum("ij,ij->i", space, space)
        keys = -(sq[None, :] - 2.0 * (queries @ space.T))
    else:
        keys = queries @ space.T
    k = min(k, space.shape[0])
    part = np.argpartition(-keys, k - 1, axis=1)[:, :k]
    return part.astype(np.int64)


def _tune_ef_search(
    index: Any, space: F32, live_rows: I64, metric: str, target: float
) -> tuple[int, float]:
    """The smallest efSearch on :data:`EF_LADDER` reaching the tuning recall (and it)."""
    queries, own = _tuning_queries(space, live_rows)
    k = min(TUNING_K + 1, len(live_rows))  # +1: a query's own row is left out on both sides
    truth = live_rows[_exact_neighbours(space, queries, metric, k)]
    goal = min(1.0, target + TUNING_MARGIN)
    recall = 0.0
    for ef in EF_LADDER:
        params = faiss.SearchParametersHNSW(efSearch=max(ef, k))  # type: ignore[attr-defined]
        _dist, found = index.search(queries, k, params=params)
        recall = _recall_without_self(found, truth, own)
        if recall >= goal:
            return ef, recall
    return EF_LADDER[-1], recall


def _tuning_queries(space: F32, live_rows: I64) -> tuple[F32, I64]:
    """Half sample rows (their own row is left out), half midpoints of two random rows.

    Midpoints fall between clusters, where a graph search is hardest: real queries are
    not slab rows, and tuning on rows alone overestimates recall.
    """
    n = len(live_rows)
    rng = np.random.default_rng(n)
    half = max(1, min(TUNING_QUERIES, n) // 2)
    rows = rng.choice(n, size=half, replace=False)
    pairs = rng.integers(0, n, size=(half, 2))
    midpoints = (space[pairs[:, 0]] + space[pairs[:, 1]]) / 2.0
    queries = np.ascontiguousarray(np.concatenate([space[rows], midpoints]), dtype=np.float32)
    own = np.concatenate([live_rows[rows], np.full(half, -1, dtype=np.int64)])
    return queries, own


def _recall_without_self(found: I64, truth: I64, own: I64) -> float:
    hits = total = 0
    for got, want, me in zip(found, truth, own, strict=True):
        want_set = set(want.tolist()) - {int(me)}
        total += len(want_set)
        hits += len(want_set & (set(got.tolist()) - {int(me)}))
    return hits / total if total else 1.0


class AnnIndex:
    """A slab's loaded HNSW index; thread-safe for concurrent searches."""

    def __init__(self, params: AnnParams, index: Any) -> None:
        self.params = params
        self._index = index

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
        ``exact_filter_fraction`` of its rows, or fewer than ``exact_rows_per_ef``
        times the widened beam, so scanning them is cheaper), or the graph found fewer
        than ``min(k, len(candidates))`` of them.
        """
        m, want = len(candidates), candidate_count(k)
        selectivity = m / self.params.rows if self.params.rows else 0.0
        if selectivity < self.params.exact_filter_fraction:
            return None
        exact_cost = min(GATHERED_ROW_COST * m, n_rows)  # in whole-scan rows
        if exact_cost < self.params.exact_rows_per_ef * ef_for(
            self.params.ef_search, want, selectivity
        ):
            return None  # an exact search costs less than the widened graph search
        bits = None
        if m < live_rows:  # a filter or excluded rows: the graph's ID selector
            mask = np.zeros(n_rows + (-n_rows % 8), dtype=np.bool_)
            mask[np.frombuffer(candidates.to_array(), dtype=np.uint32)] = True
            bits = np.packbits(mask, bitorder="little")
        rows = self.candidates(query, want, bits, selectivity)
        return rows if len(rows) >= min(k, m) else None

    def candidates(
        self, query: F32, k: int, allowed_bits: npt.NDArray[np.uint8] | None, selectivity: float
    ) -> I64:
        """Rows the graph proposes for ``query`` (at most ``k``, sorted by row).

        ``allowed_bits`` is a little-endian packed bitmap over the slab's rows (faiss
        ``IDSelectorBitmap``): the graph then only returns allowed rows, and the beam
        widens by ``1 / sqrt(selectivity)`` (:func:`ef_for`) so enough of them are reached.
        """
        ef = ef_for(self.params.ef_search, k, selectivity)
        selector = None
        if allowed_bits is not None:
            selector = faiss.IDSelectorBitmap(len(allowed_bits) * 8, faiss.swig_ptr(allowed_bits))
        params = faiss.SearchParametersHNSW(efSearch=ef, sel=selector)  # type: ignore[attr-defined]
        q = to_index_space(query.reshape(1, -1), self.params.metric)
        _dist, labels = self._index.search(q, k, params=params)
        rows = labels[0]
        return np.sort(rows[rows >= 0]).astype(np.int64)


def ef_for(tuned: int, k: int, selectivity: float) -> int:
    """efSearch for one query: the tuned width, scaled by k/10 and 1/sqrt(selectivity).

    Measured at 100k MiniLM rows (docs/design/ann.md): a 10 % selector needs ~3x the
    unfiltered beam for the same recall, a 50 % one ~1.4x.
    """
    scale = max(1.0, k / TUNING_K) / np.sqrt(max(selectivity, 1e-6))
    return int(min(max(tuned * scale, k), max(MAX_EF_SEARCH, k)))


def candidate_count(k: int) -> int:
    """Candidates asked of the graph for a top-``k`` query (re-ranked exactly)."""
    return max(k, MIN_CANDIDATES)
