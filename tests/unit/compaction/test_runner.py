"""merge_slabs: the newest version of each id, in LSN order, and a bounded memory peak."""

from __future__ import annotations

import tracemalloc
from typing import Any

import numpy as np

from slabdb.compaction.runner import merge_slabs
from slabdb.core.values import IndexSpec
from slabdb.slab import SlabBuilder, SlabReader

DIM = 8
SPEC = IndexSpec(dimension=DIM, metric="euclidean", vector_type="dense")


def _reader(ids: list[str], lsns: list[int], deleted: list[bool] | None = None) -> SlabReader:
    """A slab whose row vectors are all ``lsn`` and whose metadata is ``{"lsn": lsn}``."""
    dead = deleted or [False] * len(ids)
    data, _ = SlabBuilder.build(
        ids=ids,
        lsns=np.asarray(lsns, dtype=np.uint64),
        deleted=np.asarray(dead),
        vectors=np.repeat(np.asarray(lsns, dtype=np.float32)[:, None], DIM, axis=1),
        sparse=None,
        metadata=[{"lsn": lsn} for lsn in lsns],
        metric="euclidean",
        vector_type="dense",
        level=0,
    )
    return SlabReader.from_bytes(data)


def _rows(reader: SlabReader) -> list[tuple[str, int, bool, Any, float]]:
    vectors = reader.vectors
    assert vectors is not None
    return [
        (reader.ids[r], int(reader.lsns[r]), bool(reader.deleted[r]), reader.metadata(r),
         float(vectors[r, 0]))
        for r in range(reader.n)
    ]  # fmt: skip


def test_newest_version_of_each_id_wins_in_lsn_order() -> None:
    old = _reader(["a", "b", "c"], [1, 2, 3])
    new = _reader(["c", "a", "d"], [5, 4, 6], deleted=[False, True, False])
    built = merge_slabs("ns", SPEC, 1, [old, new], drop_tombstones=False)
    assert built is not None
    merged = SlabReader.from_bytes(built.data)
    assert _rows(merged) == [
        ("b", 2, False, {"lsn": 2}, 2.0),
        ("a", 4, True, None, 0.0),  # a tombstone keeps only its id and LSN
        ("c", 5, False, {"lsn": 5}, 5.0),
        ("d", 6, False, {"lsn": 6}, 6.0),
    ]
    assert (built.entry.count, built.entry.live_count) == (4, 3)
    assert (built.entry.min_lsn, built.entry.max_lsn) == (2, 6)
    assert built.entry.size_bytes == len(built.data)


def test_dropping_tombstones_removes_them_and_what_they_hide() -> None:
    old = _reader(["a", "b"], [1, 2])
    new = _reader(["a"], [3], deleted=[True])
    built = merge_slabs("ns", SPEC, 2, [new, old], drop_tombstones=True)
    assert built is not None
    assert _rows(SlabReader.from_bytes(built.data)) == [("b", 2, False, {"lsn": 2}, 2.0)]
    gone = merge_slabs("ns", SPEC, 2, [new], drop_tombstones=True)
    assert gone is None


def test_merge_peak_heap_stays_well_within_twice_the_output() -> None:
    """The merged vectors are gathered once and the slab is written to its spool file by
    section: the heap never holds the vectors and the encoded slab side by side."""
    rows, dim, parts = 16_000, 256, 4
    rng = np.random.default_rng(3)
    readers = []
    for p in range(parts):
        ids = [f"id-{p}-{i}" for i in range(rows // parts)]
        data, _ = SlabBuilder.build(
            ids=ids,
            lsns=np.arange(p * rows, p * rows + len(ids), dtype=np.uint64) + 1,
            deleted=np.zeros(len(ids), dtype=np.bool_),
            vectors=rng.standard_normal((len(ids), dim), dtype=np.float32),
            sparse=None,
            metadata=[None] * len(ids),
            metric="cosine",
            vector_type="dense",
            level=0,
        )
        readers.append(SlabReader.from_bytes(data))
        assert readers[-1].ids == ids  # open readers have their ids decoded already
    spec = IndexSpec(dimension=dim, metric="cosine", vector_type="dense")
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        built = merge_slabs("ns", spec, 1, readers, drop_tombstones=False)
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert built is not None and built.entry.count == rows
    assert peak < 1.5 * built.entry.size_bytes, (peak, built.entry.size_bytes)
