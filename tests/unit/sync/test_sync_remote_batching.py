"""Upserts through the Pinecone API are split under 1000 records and 2 MB per request."""

from __future__ import annotations

import itertools

import pytest

from slabdb.core import limits
from slabdb.core.errors import InvalidArgumentError
from slabdb.sync.remote import REQUEST_BUDGET_BYTES, record_size, upsert_slices


def _slices(n: int, dim: int, text: str) -> tuple[list[tuple[int, int]], list[int]]:
    ids = [f"k{i}#0" for i in range(n)]
    values = [[0.123456789] * dim for _ in range(n)]
    meta = [{"text": text, "i": i} for i in range(n)]
    slices = list(upsert_slices(ids, values, meta))
    sizes = [sum(record_size(ids[i], values[i], meta[i]) for i in range(a, b)) for a, b in slices]
    return slices, sizes


def test_many_small_records_split_by_count() -> None:
    slices, _ = _slices(2500, 4, "x")
    assert slices == [(0, 1000), (1000, 2000), (2000, 2500)]


def test_large_records_split_by_bytes() -> None:
    slices, sizes = _slices(300, 1024, "y" * 20_000)
    assert len(slices) > 1 and slices[0][0] == 0 and slices[-1][1] == 300
    assert all(b == c for (_, b), (c, _) in itertools.pairwise(slices))
    assert max(sizes) <= REQUEST_BUDGET_BYTES < limits.MAX_REQUEST_BYTES


def test_empty_and_oversized() -> None:
    assert list(upsert_slices([], [], [])) == []
    with pytest.raises(InvalidArgumentError):
        list(upsert_slices(["a"], [[0.5] * 10], [{"t": "z" * REQUEST_BUDGET_BYTES}]))
