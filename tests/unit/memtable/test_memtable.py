"""Memtable: batched puts, snapshots, pruning, and filters over index segments."""

from __future__ import annotations

import numpy as np
import pytest

from slabdb.core.values import RecordVersion
from slabdb.engine.sources import MemtableSource
from slabdb.filters import matches, parse_filter
from slabdb.memtable import Memtable
from slabdb.memtable.memtable import SEGMENT_ROWS

FILTERS = [
    {"g": "a"},
    {"g": {"$ne": "b"}},
    {"n": {"$gte": 3}},
    {"$or": [{"t": {"$in": ["x"]}}, {"f": True}]},
    {"n": {"$exists": False}},
    {"$and": [{"g": {"$nin": ["a", "c"]}}, {"n": {"$lt": 5}}]},
]


def _random_md(rng: np.random.Generator) -> dict | None:
    if rng.random() < 0.1:
        return None
    md: dict = {}
    if rng.random() < 0.8:
        md["g"] = str(rng.choice(["a", "b", "c"]))
    if rng.random() < 0.7:
        md["n"] = int(rng.integers(0, 8))
    if rng.random() < 0.5:
        md["t"] = sorted({str(x) for x in rng.choice(["x", "y", "z"], 2)})
    if rng.random() < 0.5:
        md["f"] = bool(rng.random() < 0.5)
    return md


@pytest.mark.parametrize("flt", FILTERS)
def test_filters_over_segments_and_tail_equal_row_by_row(flt: dict) -> None:
    rng = np.random.default_rng(7)
    mem = Memtable(4)
    n_ids = 1500
    for batch in range(6):  # ~3000 rows, many ids overwritten, some deleted
        recs = []
        for _ in range(500):
            rid = f"id{int(rng.integers(0, n_ids))}"
            if rng.random() < 0.05:
                recs.append(RecordVersion(id=rid, lsn=batch + 1, deleted=True))
            else:
                vec = rng.standard_normal(4).astype(np.float32)
                recs.append(
                    RecordVersion(id=rid, lsn=batch + 1, vector=vec, metadata=_random_md(rng))
                )
        mem.put_many(recs)
    snap = mem.snapshot()
    assert len(snap.segments) == snap.n // SEGMENT_ROWS >= 2
    expr = parse_filter(flt)
    src = MemtableSource(snap, "dense")
    expect = {
        row
        for rid, row in snap.latest.items()
        if not snap.deleted[row] and matches(expr, snap.metadata[row])
    }
    assert src.matching_rows(expr) == expect
    q = rng.standard_normal(4).astype(np.float32)
    rows, _scores = src.search(q, None, "euclidean", 10_000, expr)
    assert set(rows.tolist()) == expect


def test_batch_put_marks_superseded_and_computes_norms() -> None:
    mem = Memtable(2)
    mem.put_many(
        [
            RecordVersion(id="a", lsn=1, vector=np.array([3, 4], dtype=np.float32)),
            RecordVersion(id="a", lsn=1, vector=np.array([6, 8], dtype=np.float32)),
            RecordVersion(id="b", lsn=1, deleted=True),
        ]
    )
    snap = mem.snapshot()
    assert snap.superseded.tolist() == [True, False, False]
    assert snap.norms is not None and snap.norms.tolist() == [5.0, 10.0, 0.0]
    assert len(mem) == 2 and mem.latest("a").vector.tolist() == [6.0, 8.0]


def test_snapshot_is_immutable_while_writes_go_on() -> None:
    mem = Memtable(2)
    mem.put(RecordVersion(id="a", lsn=1, vector=np.ones(2, dtype=np.float32)))
    snap = mem.snapshot()
    for i in range(600):  # forces the arrays to grow
        mem.put(
            RecordVersion(
                id="a" if i == 0 else f"x{i}", lsn=2, vector=np.zeros(2, dtype=np.float32)
            )
        )
    assert snap.n == 1 and snap.superseded.tolist() == [False]
    assert snap.vectors is not None and snap.vectors[0].tolist() == [1.0, 1.0]


def test_pruned_drops_checkpointed_versions_and_stale_clear() -> None:
    mem = Memtable(None)
    mem.clear(5)
    mem.put_many([RecordVersion(id="a", lsn=6), RecordVersion(id="b", lsn=9)])
    assert mem.cleared
    out = mem.pruned(7)
    assert [v.id for v in out.latest_versions()] == ["b"]
    assert not out.cleared  # the delete-all at LSN 5 is in the slabs now
    assert mem.pruned(3).cleared
