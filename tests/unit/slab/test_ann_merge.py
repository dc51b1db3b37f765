"""Flat-code indexes appended into one (``slab/ann_merge.py``): the merged index answers
exactly as one index that had every vector added, at any row counts (partial blocks
too), and neither the base nor the parts change."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from slabdb.slab.ann_ivf import new_flat_index
from slabdb.slab.ann_merge import appended

DIM = 16


def trained(seed: int = 0) -> faiss.Index:
    index = new_flat_index(DIM, faiss.METRIC_INNER_PRODUCT)
    index.train(np.random.default_rng(seed).standard_normal((2000, DIM)).astype(np.float32))
    return index


def filled(codebook: faiss.Index, vectors: np.ndarray) -> faiss.Index:
    index = faiss.clone_index(codebook)
    index.reset()
    index.add_with_ids(vectors, np.arange(len(vectors), dtype=np.int64))
    return index


def search(index: faiss.Index, queries: np.ndarray, k: int = 25) -> tuple:
    distances, labels = index.search(queries, k)
    return distances, labels


@pytest.mark.parametrize(
    "sizes", [(800, 800), (800, 777, 333), (5, 7, 1000), (31, 1, 33), (64, 64, 64)]
)
def test_appended_answers_as_one_index_with_every_vector(sizes: tuple[int, ...]) -> None:
    rng = np.random.default_rng(sum(sizes))
    codebook = trained()
    vectors = [rng.standard_normal((n, DIM)).astype(np.float32) for n in sizes]
    offsets = np.concatenate([[0], np.cumsum([-(-n // 8) * 8 for n in sizes])[:-1]])
    parts = [filled(codebook, v) for v in vectors]
    merged = appended(None, list(zip(parts, offsets.tolist(), strict=True)))
    whole = faiss.clone_index(codebook)
    whole.reset()
    for v, off in zip(vectors, offsets.tolist(), strict=True):
        whole.add_with_ids(v, np.arange(off, off + len(v), dtype=np.int64))
    queries = rng.standard_normal((30, DIM)).astype(np.float32)
    assert merged.ntotal == sum(sizes)
    got, want = search(merged, queries), search(whole, queries)
    assert np.array_equal(got[1], want[1])
    assert np.array_equal(got[0], want[0])


def test_appending_to_a_merged_index_equals_merging_everything_at_once() -> None:
    rng = np.random.default_rng(3)
    codebook = trained()
    vectors = [rng.standard_normal((n, DIM)).astype(np.float32) for n in (100, 250, 77)]
    parts = [filled(codebook, v) for v in vectors]
    first = appended(None, [(parts[0], 0), (parts[1], 104)])
    grown = appended(first, [(parts[2], 360)])
    at_once = appended(None, [(parts[0], 0), (parts[1], 104), (parts[2], 360)])
    queries = rng.standard_normal((20, DIM)).astype(np.float32)
    assert np.array_equal(search(grown, queries)[1], search(at_once, queries)[1])
    assert first.ntotal == 350 and grown.ntotal == 427  # the base is left as it was


def test_the_parts_are_left_unchanged() -> None:
    rng = np.random.default_rng(4)
    codebook = trained()
    part = filled(codebook, rng.standard_normal((500, DIM)).astype(np.float32))
    queries = rng.standard_normal((10, DIM)).astype(np.float32)
    before = search(part, queries)
    appended(None, [(part, 0), (faiss.clone_index(part), 504)])
    after = search(part, queries)
    assert part.ntotal == 500
    assert np.array_equal(before[1], after[1])
    assert np.array_equal(before[0], after[0])
