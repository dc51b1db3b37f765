"""Roaring bitmaps to and from numpy masks and packed bitsets (``filters/bitsets.py``),
against pyroaring's own construction, for every container kind (array, bitset, run)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from pyroaring import BitMap, FrozenBitMap

from slabdb.filters.bitsets import ARRAY_MAX, CHUNK, bitmap_from_mask, bitmap_from_rows, packed_bits


@st.composite
def masks(draw: st.DrawFn) -> np.ndarray:
    """Masks over up to three containers: sparse, dense, striped and runs."""
    n = draw(st.integers(1, 3 * CHUNK + 17))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    kind = draw(st.sampled_from(["sparse", "dense", "stripes", "runs"]))
    if kind == "sparse":
        return rng.random(n) < 0.01
    if kind == "dense":
        return rng.random(n) < 0.7
    if kind == "stripes":
        return (np.arange(n) % 100) < draw(st.integers(0, 100))
    mask = np.zeros(n, dtype=bool)
    for _ in range(draw(st.integers(0, 20))):
        start = int(rng.integers(0, n))
        mask[start : start + int(rng.integers(1, 9000))] = True
    return mask


@settings(max_examples=60, deadline=None)
@given(masks())
def test_a_mask_becomes_the_bitmap_of_its_rows(mask: np.ndarray) -> None:
    want = BitMap(np.flatnonzero(mask).tolist())
    assert bitmap_from_mask(mask) == want
    assert bitmap_from_rows(np.flatnonzero(mask)[::-1]) == want  # any order


@settings(max_examples=60, deadline=None)
@given(masks(), st.booleans())
def test_packed_bits_are_the_bitmap_rows(mask: np.ndarray, runs: bool) -> None:
    bitmap = BitMap(np.flatnonzero(mask).tolist())
    if runs:
        bitmap.run_optimize()  # run containers go through the row array
    for bm in (bitmap, FrozenBitMap(bitmap)):
        bits = packed_bits(bm, len(mask))
        assert len(bits) == -(-len(mask) // 8)
        assert np.array_equal(
            np.unpackbits(bits, bitorder="little")[: len(mask)].astype(bool), mask
        )


def test_rows_beyond_the_bitset_are_dropped_and_small_inputs_work() -> None:
    assert bitmap_from_rows([]) == BitMap()
    assert bitmap_from_mask(np.zeros(0, dtype=bool)) == BitMap()
    assert bitmap_from_rows([7, 3, 3]) == BitMap([3, 7])
    big = BitMap(range(0, 3 * CHUNK, 2))  # past ARRAY_MAX rows per container: bitsets
    assert len(big) > ARRAY_MAX
    bits = packed_bits(big, CHUNK)
    assert np.flatnonzero(np.unpackbits(bits, bitorder="little")).tolist() == list(
        range(0, CHUNK, 2)
    )
