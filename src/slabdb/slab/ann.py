"""A slab's approximate nearest-neighbour index, always re-ranked exactly.

This module builds and tunes it; :mod:`slabdb.slab.ann_search` loads and searches it.

Built by :class:`~slabdb.slab.builder.SlabBuilder` for dense slabs by their live-row
count (:func:`index_kind`): flat 4-bit PQ fast-scan codes from
``AnnConfig.flat_min_rows``, HNSW from ``min_rows``, IVF with PQ fast-scan codes from
``ivf_min_rows`` (:mod:`slabdb.slab.ann_ivf` for the two code indexes); stored as two
extra slab sections (checksummed like every other section) and loaded the first time
a query needs it:

==============  =====  ==============================================================
section         dtype  content
==============  =====  ==============================================================
``ann_params``  bytes  JSON :class:`AnnParams` (kind, metric, M, efConstruction, the
                       tuned efSearch, rows indexed, exact-filter fraction)
``ann_index``   |u1    ``faiss.serialize_index`` of ``IndexIDMap(IndexHNSWFlat)`` or
                       of the IVF/flat fast-scan index; faiss ids are slab row
                       numbers; only live rows are indexed
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
:data:`TUNING_MARGIN`.  At query time the beam widens with k and with
1/sqrt(selectivity) of the filter (:func:`~slabdb.slab.ann_search.ef_for`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from slabdb.core.config import AnnConfig
from slabdb.core.errors import CorruptionError
from slabdb.slab import ann_ivf as ivf

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
_log = logging.getLogger(__name__)

ANN_PARAMS_SECTION = "ann_params"
ANN_INDEX_SECTION = "ann_index"
ANN_SECTIONS = frozenset({ANN_PARAMS_SECTION, ANN_INDEX_SECTION})
ANN_FORMAT = 1
HNSW_KIND = "hnsw"
FLAT_KIND = "flat"
"""Not a stored kind: an ``ivfpq`` index with one list (``nlist`` 1), for small slabs."""

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
    nlist: int = 0
    """IVF only: inverted lists (``ef_search`` then holds the tuned nprobe)."""
    rerank: int = 0
    """IVF only: the tuned re-rank depth (candidates re-scored exactly) for k = 10."""
    codebook: str = ""
    """Flat codes only: :func:`codebook_id` of the trained quantizers.  Slabs of one
    namespace that share it hold comparable codes (one index can search them all)."""

    @property
    def label(self) -> str:
        """The kind as the docs name it: ``flat`` for an ``ivfpq`` index of one list."""
        return FLAT_KIND if self.kind == ivf.IVF_KIND and self.nlist == 1 else self.kind

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes | memoryview) -> AnnParams:
        try:
            doc = json.loads(bytes(raw).decode("utf-8"))
            params = cls(**doc)
        except (ValueError, TypeError) as exc:
            raise CorruptionError(f"slab ANN parameters do not decode: {exc}") from exc
        if params.format != ANN_FORMAT or params.kind not in (HNSW_KIND, ivf.IVF_KIND):
            raise CorruptionError(f"unsupported slab ANN index {params.kind!r} v{params.format}")
        if params.metric not in _FAISS_METRIC or params.ef_search < 1 or params.rows < 0:
            raise CorruptionError("slab ANN parameters are invalid")
        if params.kind == ivf.IVF_KIND and (params.nlist < 1 or params.rerank < 1):
            raise CorruptionError("slab IVF parameters are invalid")
        return params


def to_index_space(vectors: F32, metric: str, *, owned: bool = False) -> F32:
    """Vectors as the index sees them: unit length for cosine, as stored otherwise.

    ``owned``: ``vectors`` is a temporary of the caller's, normalized in place (no copy)."""
    out = np.ascontiguousarray(vectors, dtype=np.float32)
    if metric != "cosine":
        return out
    if out.ndim == 2 and len(out) == 1:  # one query: no (n, 1) norms, one division
        norm = float(np.sqrt(out[0] @ out[0]))
        return out / np.float32(norm) if norm > 0 else out.copy()
    if (out is vectors and not owned) or not out.flags.writeable:
        out = out.copy()
    norms = np.sqrt(np.einsum("...i,...i->...", out, out))[..., None]  # no (n, d) temporary
    norms[norms == 0] = 1.0
    out /= norms
    return out


def index_kind(live_rows: int, config: AnnConfig) -> str | None:
    """The index a dense slab of ``live_rows`` live rows gets (None: exact search only):
    IVF-PQ from ``ivf_min_rows``, HNSW from ``min_rows``, flat PQ codes from
    ``flat_min_rows`` (0 = never)."""
    if live_rows == 0:
        return None
    if live_rows >= config.ivf_min_rows:
        return ivf.IVF_KIND
    if live_rows >= config.min_rows:
        return HNSW_KIND
    if 0 < config.flat_min_rows <= live_rows:
        return FLAT_KIND
    return None


def build_ann_sections(
    vectors: F32,
    deleted: npt.NDArray[np.bool_],
    metric: str,
    config: AnnConfig | None,
    codebook: Any = None,
) -> dict[str, Any]:
    """The ANN sections for a dense slab, or ``{}`` when it is too small, ANN is off, or
    the index cannot reach ``config.target_recall`` on this data (then the slab is
    searched exactly): IVF-PQ fast-scan from ``config.ivf_min_rows`` live rows, HNSW below.

    ``codebook``: an empty trained flat index (:meth:`AnnIndex.empty_copy
    <slabdb.slab.ann_search.AnnIndex.empty_copy>` of a newer slab's) that flat codes
    reuse instead of training their own, unless it misses the recall goal here."""
    if config is None or not config.enabled:
        return {}
    live_rows = np.flatnonzero(~np.asarray(deleted, dtype=np.bool_)).astype(np.int64)
    kind = index_kind(len(live_rows), config)
    if kind is None:
        return {}
    if kind == HNSW_KIND:
        index, params = _build_hnsw(vectors, live_rows, metric, config)
    else:
        flat = kind == FLAT_KIND
        reused = codebook if flat and _fits(codebook, vectors, metric) else None
        index, params = _build_ivf(vectors, live_rows, metric, config, flat=flat, trained=reused)
        if reused is not None and params.tuned_recall < config.target_recall:
            index, params = _build_ivf(vectors, live_rows, metric, config, flat=True)
    if params.tuned_recall < config.target_recall:  # the widest setting tried falls short
        _log.warning(
            "%s index of %d rows reaches recall@10 %.3f < %.3f at its widest setting: "
            "the slab is searched exactly",
            params.kind, params.rows, params.tuned_recall, config.target_recall,
        )  # fmt: skip
        return {}
    return {
        ANN_PARAMS_SECTION: params.to_bytes(),
        ANN_INDEX_SECTION: np.asarray(faiss.serialize_index(index), dtype=np.uint8),
    }


def _build_hnsw(
    vectors: F32, live_rows: I64, metric: str, config: AnnConfig
) -> tuple[Any, AnnParams]:
    space = to_index_space(vectors[live_rows], metric, owned=True)
    graph = faiss.IndexHNSWFlat(space.shape[1], config.hnsw_m, _FAISS_METRIC[metric])
    graph.hnsw.efConstruction = config.ef_construction
    index = faiss.IndexIDMap(graph)
    index.add_with_ids(space, live_rows)
    rows = _SpaceRows(space, None, metric)
    ef, recall = _tune(
        lambda q, k, width: _hnsw_labels(index, q, k, width), rows, live_rows, metric,
        EF_LADDER, config.target_recall, rerank=None,
    )  # fmt: skip
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
    return index, params


def codebook_id(index: Any) -> str:
    """A digest of a trained flat index's quantizers (its one centroid and the PQ
    codebooks): equal digests, comparable codes."""
    ivf_index = faiss.extract_index_ivf(index)
    centroid = ivf_index.quantizer.reconstruct_n(0, ivf_index.nlist)
    pq = faiss.vector_to_array(faiss.downcast_index(index).pq.centroids)  # type: ignore[attr-defined]
    digest = hashlib.blake2b(digest_size=8)
    digest.update(np.ascontiguousarray(centroid, dtype=np.float32).tobytes())
    digest.update(np.ascontiguousarray(pq, dtype=np.float32).tobytes())
    return digest.hexdigest()


def _fits(codebook: Any, vectors: F32, metric: str) -> bool:
    """True if ``codebook`` is an empty trained index for these vectors and metric."""
    return (
        codebook is not None
        and codebook.is_trained
        and codebook.ntotal == 0
        and codebook.d == int(vectors.shape[1])
        and codebook.metric_type == _FAISS_METRIC[metric]
    )


def _build_ivf(
    vectors: F32,
    live_rows: I64,
    metric: str,
    config: AnnConfig,
    *,
    flat: bool = False,
    trained: Any = None,
) -> tuple[Any, AnnParams]:
    """Train on a sample, add in chunks: no second copy of every vector is made.

    ``flat``: one list (every code scanned), so only the re-rank depth is tuned;
    ``trained``: its quantizers are used as they are (no training)."""
    n, dim = len(live_rows), int(vectors.shape[1])
    if trained is not None:
        index, nlist = faiss.clone_index(trained), 1
    elif flat:
        index, nlist = ivf.new_flat_index(dim, _FAISS_METRIC[metric]), 1
    else:
        index, nlist = ivf.new_index(dim, n, _FAISS_METRIC[metric]), ivf.nlist_for(n)
    if trained is None:
        rng = np.random.default_rng(n)
        sample = np.sort(rng.choice(n, size=min(n, ivf.train_rows(nlist)), replace=False))
        index.train(to_index_space(vectors[live_rows[sample]], metric, owned=True))
    for start in range(0, n, ivf.ADD_CHUNK_ROWS):
        rows = live_rows[start : start + ivf.ADD_CHUNK_ROWS]
        index.add_with_ids(to_index_space(vectors[rows], metric, owned=True), rows)
    space = _SpaceRows(vectors, live_rows, metric)

    def labels(queries: F32, k: int, nprobe: int) -> I64:
        params = faiss.SearchParametersIVF(nprobe=nprobe)  # type: ignore[call-arg]
        return np.asarray(index.search(queries, k, params=params)[1], dtype=np.int64)

    generous = min(nlist, ivf.TUNING_NPROBE)
    rerank, recall = _tune(
        lambda q, k, _depth: labels(q, k, generous), space, live_rows, metric,
        ivf.FLAT_RERANK_LADDER if flat else ivf.RERANK_LADDER, config.target_recall,
        rerank=lambda depth: depth,
    )  # fmt: skip
    nprobe = 1
    if not flat:
        ladder = tuple(p for p in ivf.NPROBE_LADDER if p <= generous) or (generous,)
        nprobe, recall = _tune(
            labels, space, live_rows, metric, ladder, config.target_recall,
            rerank=lambda _nprobe: rerank,
        )  # fmt: skip
    params = AnnParams(
        kind=ivf.IVF_KIND,
        metric=metric,
        rows=n,
        hnsw_m=0,
        ef_construction=0,
        ef_search=nprobe,
        exact_filter_fraction=config.exact_filter_fraction,
        exact_rows_per_ef=config.exact_rows_per_ef,
        tuned_recall=recall,
        nlist=nlist,
        rerank=rerank,
        codebook=codebook_id(index) if flat else "",
    )
    return index, params


class _SpaceRows:
    """Rows of the index space by position among the live rows, without materializing
    it (IVF: normalized on the fly, chunk by chunk)."""

    CHUNK = 16_384
    """Rows per chunk (the exact top-k of the tuning queries holds ~10 bytes per query
    and row of a chunk)."""

    def __init__(self, source: F32, live_rows: I64 | None, metric: str) -> None:
        self._source, self._live, self._metric = source, live_rows, metric
        self.n = len(source) if live_rows is None else len(live_rows)

    def take(self, positions: I64) -> F32:
        if self._live is None:
            return np.ascontiguousarray(self._source[positions])
        return to_index_space(self._source[self._live[positions]], self._metric, owned=True)

    def chunks(self) -> Any:
        for start in range(0, self.n, self.CHUNK):
            yield start, self.take(np.arange(start, min(self.n, start + self.CHUNK)))


def _hnsw_labels(index: Any, queries: F32, k: int, ef: int) -> I64:
    params = faiss.SearchParametersHNSW(efSearch=max(ef, k))  # type: ignore[attr-defined]
    return np.asarray(index.search(queries, k, params=params)[1], dtype=np.int64)


def _keys(space: F32, queries: F32, metric: str) -> npt.NDArray[np.float32]:
    """Higher is better, in the index space (inner product, or -L2² up to a constant)."""
    dots = queries @ space.T
    if metric != "euclidean":
        return dots
    return -(np.einsum("ij,ij->i", space, space)[None, :] - 2.0 * dots)


def _exact_neighbours(space: _SpaceRows, queries: F32, metric: str, k: int) -> I64:
    """Positions (among the live rows) of each query's exact top ``k``, chunk by chunk."""
    best_pos = np.empty((len(queries), 0), dtype=np.int64)
    best_key = np.empty((len(queries), 0), dtype=np.float32)
    for start, chunk in space.chunks():
        keys = np.concatenate([best_key, _keys(chunk, queries, metric)], axis=1)
        keep = min(k, keys.shape[1])
        part = np.argpartition(-keys, keep - 1, axis=1)[:, :keep]
        best_key = np.take_along_axis(keys, part, axis=1)
        # a column below best_pos's width is an earlier best, above it a row of the chunk
        width = best_pos.shape[1]
        earlier = np.zeros_like(part)
        if width:
            earlier = np.take_along_axis(best_pos, np.minimum(part, width - 1), axis=1)
        best_pos = np.where(part < width, earlier, part - width + start).astype(np.int64)
    return best_pos


def _tune(
    labels: Any,
    space: _SpaceRows,
    live_rows: I64,
    metric: str,
    ladder: tuple[int, ...],
    target: float,
    rerank: Callable[[int], int] | None,
) -> tuple[int, float]:
    """The smallest width on ``ladder`` whose recall@10 (after the exact re-rank of
    ``rerank(width)`` candidates, if given) reaches the tuning goal, and that recall."""
    queries, own = _tuning_queries(space, live_rows)
    k = min(TUNING_K + 1, len(live_rows))  # +1: a query's own row is left out on both sides
    truth = live_rows[_exact_neighbours(space, queries, metric, k)]
    goal = min(1.0, target + TUNING_MARGIN)
    recall = 0.0
    for width in ladder:
        found = labels(queries, k if rerank is None else rerank(width), width)
        if rerank is not None:
            found = _reranked(found, space, live_rows, queries, metric, k)
        recall = _recall_without_self(found, truth, own)
        if recall >= goal:
            return width, recall
    return ladder[-1], recall


def _reranked(
    found: I64, space: _SpaceRows, live_rows: I64, queries: F32, metric: str, k: int
) -> I64:
    """Each query's top ``k`` of its candidates by exact score (-1 padded)."""
    out = np.full((len(found), k), -1, dtype=np.int64)
    for i, cand in enumerate(found):
        cand = cand[cand >= 0]
        if not len(cand):
            continue
        keys = _keys(space.take(np.searchsorted(live_rows, cand)), queries[i : i + 1], metric)[0]
        top = cand[np.argsort(-keys, kind="stable")[:k]]
        out[i, : len(top)] = top
    return out


def _tuning_queries(space: _SpaceRows, live_rows: I64) -> tuple[F32, I64]:
    """Half sample rows (their own row is left out), half midpoints of two random rows.

    Midpoints fall between clusters, where a graph search is hardest: real queries are
    not slab rows, and tuning on rows alone overestimates recall.
    """
    n = len(live_rows)
    rng = np.random.default_rng(n)
    half = max(1, min(TUNING_QUERIES, n) // 2)
    rows = rng.choice(n, size=half, replace=False)
    pairs = rng.integers(0, n, size=(half, 2))
    midpoints = (space.take(pairs[:, 0]) + space.take(pairs[:, 1])) / 2.0
    queries = np.ascontiguousarray(np.concatenate([space.take(rows), midpoints]), dtype=np.float32)
    own = np.concatenate([live_rows[rows], np.full(half, -1, dtype=np.int64)])
    return queries, own


def _recall_without_self(found: I64, truth: I64, own: I64) -> float:
    hits = total = 0
    for got, want, me in zip(found, truth, own, strict=True):
        want_set = set(want.tolist()) - {int(me)}
        total += len(want_set)
        hits += len(want_set & (set(got.tolist()) - {int(me)}))
    return hits / total if total else 1.0
