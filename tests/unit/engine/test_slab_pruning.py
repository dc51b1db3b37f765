"""Slabs whose per-field stats rule out a filter are skipped, not searched."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import slabdb
from slabdb import EngineConfig
from slabdb.slab.reader import SlabReader


@pytest.fixture
def two_slabs() -> slabdb.Index:
    db = slabdb.connect("memory://", config=EngineConfig(background=False))
    db.create_index(name="p", dimension=4, metric="euclidean")
    index = db.Index("p")
    rng = np.random.default_rng(0)
    for lo in (2000, 3000):  # one slab of years 2000-2009, one of 3000-3009
        ids = [f"y{lo + i}" for i in range(10)]
        index.upsert_arrays(ids, rng.random((10, 4)), [{"year": lo + i} for i in range(10)])
        index.flush()
    return index


def test_a_slab_whose_stats_cannot_match_is_not_searched(
    two_slabs: slabdb.Index, monkeypatch: pytest.MonkeyPatch
) -> None:
    searched: list[int] = []
    original = SlabReader.search

    def counting(self: SlabReader, **kwargs: Any) -> Any:
        searched.append(self.min_lsn)
        return original(self, **kwargs)

    monkeypatch.setattr(SlabReader, "search", counting)
    res = two_slabs.query(vector=[0.5] * 4, top_k=20, filter={"year": {"$gte": 3000}})
    assert sorted(m.id for m in res.matches) == [f"y{3000 + i}" for i in range(10)]
    assert len(searched) == 1  # the 2000s slab was ruled out by its max year

    searched.clear()
    res = two_slabs.query(vector=[0.5] * 4, top_k=20, filter={"year": {"$ne": 1}})
    assert len(res.matches) == 20 and len(searched) == 2  # $ne can match anywhere


def test_pruned_slabs_are_left_out_of_filtered_listings(two_slabs: slabdb.Index) -> None:
    got = two_slabs.fetch_by_metadata(filter={"year": {"$lt": 2005}}, limit=100)
    assert sorted(got.vectors) == [f"y{2000 + i}" for i in range(5)]
    stats = two_slabs.describe_index_stats(filter={"year": {"$gt": 5000}})
    assert stats.total_vector_count == 0
