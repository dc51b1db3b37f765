"""A large slab's IVF-PQ fast-scan index, and a small slab's flat (one-list) one: chosen
by size, recall against brute force (unfiltered and with filters as ID selectors), exact
scores, and a damaged index."""

from __future__ import annotations

import json

import numpy as np
import pytest

from slabdb.core.config import AnnConfig
from slabdb.core.errors import CorruptionError
from slabdb.filters import parse_filter
from slabdb.query.scoring import dense_scores, top_k_rows, vector_norms
from slabdb.slab import SlabBuilder, SlabReader
from slabdb.slab.ann import (
    ANN_INDEX_SECTION,
    ANN_PARAMS_SECTION,
    FLAT_KIND,
    HNSW_KIND,
    index_kind,
)
from slabdb.slab.ann_ivf import FLAT_RERANK_LADDER, IVF_KIND, nlist_for, nprobe_for
from slabdb.slab.format import decode_slab

N, DIM, K = 6000, 32, 10
IVF = AnnConfig(min_rows=1000, ivf_min_rows=5000, exact_rows_per_ef=1.0)
FLAT = AnnConfig(flat_min_rows=1000, min_rows=N + 1, ivf_min_rows=N + 2)
CENTRES = np.random.default_rng(0).standard_normal((60, DIM)).astype(np.float32)


def clustered(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(CENTRES), n)
    return (CENTRES[labels] + 0.5 * rng.standard_normal((n, DIM))).astype(np.float32)


VECTORS = clustered(N, 1)
QUERIES = clustered(40, 2)
METADATA = [{"p10": (i % 100) < 10, "p50": (i % 100) < 50} for i in range(N)]


def build(metric: str, ann: AnnConfig = IVF) -> bytes:
    data, _ = SlabBuilder.build(
        ids=[f"r{i}" for i in range(N)],
        lsns=np.arange(1, N + 1, dtype=np.uint64),
        deleted=np.zeros(N, dtype=bool),
        vectors=VECTORS,
        sparse=None,
        metadata=METADATA,
        metric=metric,
        vector_type="dense",
        level=2,
        ann=ann,
    )
    return data


@pytest.fixture(
    scope="module",
    params=[(m, kind) for kind in ("ivf", "flat") for m in ("cosine", "euclidean", "dotproduct")],
    ids=lambda p: "-".join(p),
)
def slab(request: pytest.FixtureRequest) -> tuple[str, SlabReader]:
    metric, kind = request.param
    return metric, SlabReader.from_bytes(build(metric, IVF if kind == "ivf" else FLAT))


def params_of(reader: SlabReader) -> dict[str, object]:
    raw = reader.section_bytes(ANN_PARAMS_SECTION)
    assert raw is not None
    return dict(json.loads(bytes(raw)))


def test_slabs_from_ivf_min_rows_get_ivf_and_smaller_ones_hnsw() -> None:
    big = SlabReader.from_bytes(build("cosine"))
    small = SlabReader.from_bytes(build("cosine", AnnConfig(min_rows=1000, ivf_min_rows=N + 1)))
    assert params_of(big)["kind"] == IVF_KIND
    assert params_of(big)["nlist"] == nlist_for(N)
    assert params_of(small)["kind"] == "hnsw"
    index = big.ann_index()
    assert index is not None and index.is_ivf


def test_slabs_from_flat_min_rows_below_min_rows_get_one_list_of_codes() -> None:
    flat = SlabReader.from_bytes(build("cosine", FLAT))
    params = params_of(flat)
    assert params["kind"] == IVF_KIND and params["nlist"] == 1 and params["ef_search"] == 1
    index = flat.ann_index()
    assert index is not None and index.params.label == FLAT_KIND
    big = SlabReader.from_bytes(build("cosine"))
    assert big.ann_index().params.label == IVF_KIND  # type: ignore[union-attr]
    assert int(params["rerank"]) in FLAT_RERANK_LADDER  # type: ignore[call-overload]
    assert float(params["tuned_recall"]) >= FLAT.target_recall  # type: ignore[arg-type]
    for off in (AnnConfig(flat_min_rows=0, min_rows=N + 1), AnnConfig(flat_min_rows=N + 1)):
        assert not SlabReader.from_bytes(build("cosine", off)).has_ann


def test_index_kind_follows_the_size_thresholds() -> None:
    config = AnnConfig(flat_min_rows=10, min_rows=100, ivf_min_rows=1000)
    assert [index_kind(n, config) for n in (0, 9, 10, 99, 100, 999, 1000)] == [
        None, None, FLAT_KIND, FLAT_KIND, HNSW_KIND, HNSW_KIND, IVF_KIND,
    ]  # fmt: skip
    assert index_kind(50, AnnConfig(flat_min_rows=0, min_rows=100)) is None


def _recall(reader: SlabReader, metric: str, where: dict[str, object] | None) -> float:
    allow = None if where is None else reader.filter_bitmap(parse_filter(where))
    allowed = np.arange(N) if allow is None else np.asarray(sorted(allow), dtype=np.int64)
    norms = vector_norms(VECTORS)
    hits = 0
    for q in QUERIES:
        rows, scores = reader.search(vector=q, sparse=None, metric=metric, k=K, allow=allow)
        truth_scores = dense_scores(VECTORS[allowed], norms[allowed], q, metric)
        truth = allowed[top_k_rows(truth_scores, K, metric)]
        assert len(rows) == K
        assert set(rows.tolist()) <= set(allowed.tolist())  # the selector, never a post-filter
        np.testing.assert_allclose(
            scores, dense_scores(VECTORS[rows], norms[rows], q, metric), rtol=1e-5, atol=1e-5
        )
        hits += len(set(rows.tolist()) & set(truth.tolist()))
    return hits / (K * len(QUERIES))


@pytest.mark.parametrize("where", [None, {"p50": True}, {"p10": True}])
def test_recall_at_10_is_at_least_095(slab: tuple[str, SlabReader], where: object) -> None:
    metric, reader = slab
    assert _recall(reader, metric, where) >= 0.95  # type: ignore[arg-type]


def test_search_uses_the_index_and_not_an_exact_scan(slab: tuple[str, SlabReader]) -> None:
    _metric, reader = slab
    index = reader.ann_index()
    assert index is not None
    proposed = index.propose(QUERIES[0], K, reader.live, reader.n, reader.live_count)
    assert proposed is not None and K <= len(proposed) < N // 10


def test_nprobe_widens_with_k_and_filters_and_stops_at_nlist() -> None:
    assert nprobe_for(8, 10, 1.0, 100) == 8
    assert nprobe_for(8, 20, 1.0, 100) == 16
    assert nprobe_for(8, 10, 0.5, 100) == 16
    assert nprobe_for(8, 10, 0.01, 100) == 100


def test_a_damaged_ivf_index_is_corruption_on_first_use() -> None:
    data = bytearray(build("cosine"))
    footer, _ = decode_slab(bytes(data))
    info = footer.sections[ANN_INDEX_SECTION]
    data[info.offset + 10] ^= 0xFF
    with pytest.raises(CorruptionError, match="ann_index"):
        SlabReader.from_bytes(bytes(data))


@pytest.mark.parametrize("where", [None, {"p50": True}])
def test_a_batch_search_answers_each_query_as_one_search_does(
    slab: tuple[str, SlabReader], where: dict[str, object] | None
) -> None:
    metric, reader = slab
    allow = None if where is None else reader.filter_bitmap(parse_filter(where))
    exclude = np.arange(0, N, 7)  # superseded rows, as the view leaves them out
    batch = reader.search_batch(
        queries=QUERIES, metric=metric, k=K, allow=allow, exclude_rows=exclude
    )
    for q, (rows, scores) in zip(QUERIES, batch, strict=True):
        one_rows, one_scores = reader.search(
            vector=q, sparse=None, metric=metric, k=K, allow=allow, exclude_rows=exclude
        )
        assert rows.tolist() == one_rows.tolist() and not set(rows.tolist()) & set(exclude)
        assert np.array_equal(scores, one_scores)  # the same re-rank, query by query
