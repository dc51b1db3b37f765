"""A slab's HNSW index: recall against brute force, filters as ID selectors, exclusions,
tombstones, exact scores, and corruption of the ANN sections."""

from __future__ import annotations

from typing import Any

import faiss
import numpy as np
import pytest
from pyroaring import BitMap

from slabdb.core.config import AnnConfig
from slabdb.core.errors import CorruptionError
from slabdb.filters import parse_filter
from slabdb.query.scoring import dense_scores, top_k_rows, vector_norms
from slabdb.slab import SlabBuilder, SlabReader
from slabdb.slab.ann import ANN_INDEX_SECTION
from slabdb.slab.format import decode_slab, encode_slab, section_array, section_bytes

N, DIM, CLUSTERS, K = 4000, 32, 40, 10
ANN = AnnConfig(min_rows=1000, exact_rows_per_ef=1.0)
"""A small slab, so the graph is made to answer whenever the filter is broad enough."""


CENTRES = np.random.default_rng(0).standard_normal((CLUSTERS, DIM)).astype(np.float32)


def clustered(n: int, seed: int, centres: np.ndarray = CENTRES) -> np.ndarray:
    """Points around ``centres`` (queries come from the same clusters as the data)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLUSTERS, n)
    return (centres[labels] + 0.5 * rng.standard_normal((n, DIM))).astype(np.float32)


VECTORS = clustered(N, 1)
QUERIES = clustered(30, 2)
# bucket = row % 100: "p01" holds 1% of rows, "p10" 10%, "p50" 50%
METADATA = [
    {"p01": (i % 100) < 1, "p10": (i % 100) < 10, "p50": (i % 100) < 50, "i": i} for i in range(N)
]


def build(metric: str, deleted: np.ndarray | None = None, ann: AnnConfig | None = ANN) -> bytes:
    data, _ = SlabBuilder.build(
        ids=[f"r{i}" for i in range(N)],
        lsns=np.arange(1, N + 1, dtype=np.uint64),
        deleted=np.zeros(N, dtype=bool) if deleted is None else deleted,
        vectors=VECTORS,
        sparse=None,
        metadata=METADATA,
        metric=metric,
        vector_type="dense",
        level=1,
        ann=ann,
    )
    return data


_SLABS: dict[str, SlabReader] = {}


def slab(metric: str) -> SlabReader:
    if metric not in _SLABS:
        _SLABS[metric] = SlabReader.from_bytes(build(metric))
    return _SLABS[metric]


def brute_force(metric: str, q: np.ndarray, allowed: np.ndarray, k: int) -> set[int]:
    scores = dense_scores(VECTORS[allowed], vector_norms(VECTORS[allowed]), q, metric)
    return set(allowed[top_k_rows(scores, k, metric)].tolist())


def graph_visits(reader: SlabReader, **search: Any) -> tuple[np.ndarray, np.ndarray, int]:
    """Run a search; also return how many distances the HNSW graph computed."""
    faiss.cvar.hnsw_stats.reset()
    rows, scores = reader.search(sparse=None, k=K, **search)
    return rows, scores, int(faiss.cvar.hnsw_stats.ndis)


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "dotproduct"])
def test_ann_slab_recall_at_10_vs_brute_force(metric: str) -> None:
    reader = slab(metric)
    assert reader.has_ann
    everything = np.arange(N)
    recalls = []
    for q in QUERIES:
        rows, _scores, visited = graph_visits(reader, vector=q, metric=metric)
        assert 0 < visited < N, "the graph, not an exact scan, answered"
        recalls.append(len(set(rows.tolist()) & brute_force(metric, q, everything, K)) / K)
    assert np.mean(recalls) >= 0.95


def test_small_slab_or_ann_off_has_no_index() -> None:
    assert not SlabReader.from_bytes(build("cosine", ann=AnnConfig(min_rows=N + 1))).has_ann
    assert not SlabReader.from_bytes(build("cosine", ann=None)).has_ann
    assert not SlabReader.from_bytes(build("cosine", ann=AnnConfig(enabled=False))).has_ann


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "dotproduct"])
def test_returned_scores_are_the_exact_scores(metric: str) -> None:
    reader = slab(metric)
    norms = vector_norms(VECTORS)
    for q in QUERIES[:5]:
        rows, scores = reader.search(vector=q, sparse=None, metric=metric, k=K)
        exact = dense_scores(VECTORS, norms, q, metric)[rows]
        np.testing.assert_allclose(scores, exact, rtol=1e-6, atol=1e-6)
        keys = scores if metric != "euclidean" else -scores
        assert np.all(np.diff(keys) <= 0), "best first"


@pytest.mark.parametrize("field", ["p01", "p10", "p50"])
def test_filtered_search_returns_k_matches_with_recall(field: str) -> None:
    reader = slab("cosine")
    allow = reader.filter_bitmap(parse_filter({field: True}))
    allowed = np.asarray(sorted(allow), dtype=np.int64)
    recalls = []
    for q in QUERIES:
        rows, _ = reader.search(vector=q, sparse=None, metric="cosine", k=K, allow=allow)
        assert len(rows) == K
        assert all(METADATA[r][field] for r in rows.tolist()), "never a row outside the filter"
        recalls.append(len(set(rows.tolist()) & brute_force("cosine", q, allowed, K)) / K)
    assert np.mean(recalls) >= 0.95


def test_broad_filter_searches_the_graph_selective_one_scans_exactly() -> None:
    reader = slab("cosine")
    q = QUERIES[0]
    broad = reader.filter_bitmap(parse_filter({"p50": True}))
    selective = reader.filter_bitmap(parse_filter({"p01": True}))
    assert graph_visits(reader, vector=q, metric="cosine", allow=broad)[2] > 0
    assert graph_visits(reader, vector=q, metric="cosine", allow=selective)[2] == 0


def test_filter_with_fewer_matches_than_k_returns_all_of_them() -> None:
    reader = slab("cosine")
    allow = BitMap(range(0, N, 800))  # 5 rows
    rows, _ = reader.search(vector=QUERIES[0], sparse=None, metric="cosine", k=K, allow=allow)
    assert sorted(rows.tolist()) == sorted(allow)


def test_excluded_rows_never_come_back_and_the_rest_is_found() -> None:
    reader = slab("cosine")
    for q in QUERIES[:10]:
        best = brute_force("cosine", q, np.arange(N), 50)
        exclude = np.asarray(sorted(best), dtype=np.int64)
        rows, _ = reader.search(vector=q, sparse=None, metric="cosine", k=K, exclude_rows=exclude)
        assert len(rows) == K and not set(rows.tolist()) & best
        rest = np.setdiff1d(np.arange(N), exclude)
        assert len(set(rows.tolist()) & brute_force("cosine", q, rest, K)) >= 8


def test_tombstones_are_not_indexed_and_never_returned() -> None:
    deleted = np.zeros(N, dtype=bool)
    deleted[::3] = True
    reader = SlabReader.from_bytes(build("euclidean", deleted))
    assert reader.has_ann
    ann = reader.ann_index()
    assert ann is not None and ann.params.rows == N - int(deleted.sum())
    for row in range(0, 60, 3):  # query exactly at a deleted row's old vector
        rows, _ = reader.search(vector=VECTORS[row], sparse=None, metric="euclidean", k=K)
        assert len(rows) == K and not deleted[rows].any()


def test_the_index_loads_lazily_once() -> None:
    reader = SlabReader.from_bytes(build("cosine"))
    assert reader._ann is None  # opened, not deserialized
    reader.search(vector=QUERIES[0], sparse=None, metric="cosine", k=K)
    first = reader.ann_index()
    assert first is not None and reader.ann_index() is first


def test_a_flipped_byte_in_the_ann_section_fails_its_checksum() -> None:
    data = bytearray(build("cosine"))
    footer, _ = decode_slab(bytes(data))
    info = footer.sections[ANN_INDEX_SECTION]
    data[info.offset + info.length // 2] ^= 0xFF
    with pytest.raises(CorruptionError, match="ann_index"):
        SlabReader.from_bytes(bytes(data))


def test_a_checksummed_but_undecodable_ann_index_raises_corruption_on_first_query() -> None:
    footer, view = decode_slab(build("cosine"))
    sections: list[tuple[str, Any]] = []
    for name, info in footer.sections.items():
        if name == ANN_INDEX_SECTION:
            sections.append((name, np.frombuffer(b"not a faiss index" * 9, dtype=np.uint8)))
        elif info.dtype == "bytes":
            sections.append((name, bytes(section_bytes(footer, view, name) or b"")))
        else:
            sections.append((name, section_array(footer, view, name)))
    reader = SlabReader.from_bytes(encode_slab(sections, footer.stats))
    with pytest.raises(CorruptionError, match="ANN"):
        reader.search(vector=QUERIES[0], sparse=None, metric="cosine", k=K)
