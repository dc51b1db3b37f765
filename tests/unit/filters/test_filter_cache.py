"""A slab's remembered filter bitmaps and packed selectors (``filters/cache.py``):
the same filter is evaluated once, filters that only compare equal (``True`` and
``1.0``) are kept apart, the least recently used entry goes first, and a packed
selector is reused only for an equal candidate set."""

from __future__ import annotations

import numpy as np
from pyroaring import BitMap

from slabdb.filters import parse_filter
from slabdb.filters.bitsets import packed_bits
from slabdb.filters.cache import FilterBitmaps, PackedSelectors


def test_a_filter_is_computed_once_and_frozen() -> None:
    cache, calls = FilterBitmaps(), []

    def compute() -> BitMap:
        calls.append(1)
        return BitMap([1, 2, 3])

    first = cache.get(parse_filter({"g": "a"}), compute)
    again = cache.get(parse_filter({"g": "a"}), compute)
    assert again is first and calls == [1]
    assert not hasattr(first, "add")


def test_true_and_one_are_different_filters() -> None:
    cache = FilterBitmaps()
    flag = cache.get(parse_filter({"f": True}), lambda: BitMap([1]))
    one = cache.get(parse_filter({"f": 1}), lambda: BitMap([2]))
    assert list(flag) == [1] and list(one) == [2]


def test_the_least_recently_used_filter_is_dropped() -> None:
    cache = FilterBitmaps(entries=2)
    a, b, c = (parse_filter({"g": w}) for w in "abc")
    cache.get(a, lambda: BitMap([1]))
    cache.get(b, lambda: BitMap([2]))
    cache.get(a, lambda: BitMap([9]))  # a is now the most recent
    cache.get(c, lambda: BitMap([3]))  # drops b
    assert list(cache.get(a, lambda: BitMap([9]))) == [1]
    assert list(cache.get(b, lambda: BitMap([8]))) == [8]


def test_a_packed_selector_is_reused_only_for_equal_candidates() -> None:
    cache = PackedSelectors(entries=2)
    rows = BitMap(range(0, 1000, 3))
    first = cache.get(rows, 1000)
    assert np.array_equal(first, packed_bits(rows, 1000))
    assert cache.get(BitMap(rows), 1000) is first  # an equal set, another object
    other = BitMap(rows)
    other.add(1)  # same length as nothing cached, different content
    assert cache.get(other, 1000) is not first
    assert np.array_equal(cache.get(other, 1000), packed_bits(other, 1000))
    assert not first.flags.writeable
