"""Garbage collection and compaction of one namespace, driven by hand."""

from datetime import UTC, datetime, timedelta

import numpy as np

import slabdb
from slabdb import EngineConfig
from slabdb.engine.maintenance import collect_garbage, compact_until_idle


def _setup():
    db = slabdb.connect(
        "memory://", config=EngineConfig(background=False, flush_records=10, level_fanout=2)
    )
    db.create_index(name="g", dimension=4, metric="dotproduct")
    index = db.Index("g")
    rng = np.random.default_rng(0)
    for b in range(6):
        index.upsert_arrays([f"b{b}-{i}" for i in range(10)], rng.standard_normal((10, 4)))
    ns = db.open_namespaces()[0]
    return db, index, ns


def _keys(db, ns, what):
    return [m.key for m in db.store.list(f"{ns.prefix}{what}/")]


def test_gc_keeps_young_objects_and_deletes_old_unreferenced_ones():
    db, _index, ns = _setup()
    assert len(_keys(db, ns, "wal")) == 6
    compact_until_idle(ns)
    live = ns.manifest.slab_keys()
    all_slabs = set(_keys(db, ns, "slabs"))
    assert live < all_slabs  # replaced slabs still exist during the grace period
    assert collect_garbage(ns, grace_seconds=300) == 0
    later = datetime.now(UTC) + timedelta(seconds=301)
    deleted = collect_garbage(ns, grace_seconds=300, now=later)
    assert set(_keys(db, ns, "slabs")) == live
    assert _keys(db, ns, "wal") == []  # every entry is at or below the checkpoint
    assert deleted == len(all_slabs - live) + 6
    # Nothing readable was lost, and a reopen still sees every record.
    store = db.store
    db.close(flush=False)
    db2 = slabdb.Client(store, EngineConfig(background=False))
    assert db2.Index("g").describe_index_stats().total_vector_count == 60


def test_gc_never_deletes_wal_above_the_checkpoint():
    db, index, ns = _setup()
    index.upsert(vectors=[("tail", [1, 2, 3, 4])])  # in the memtable only
    collect_garbage(ns, grace_seconds=1)  # sees the checkpoint
    later = datetime.now(UTC) + timedelta(days=1)
    collect_garbage(ns, grace_seconds=1, now=later)
    remaining = _keys(db, ns, "wal")
    assert len(remaining) == 1 and int(remaining[0].rsplit("/", 1)[1]) > ns.manifest.checkpoint_lsn
    store = db.store
    db.close(flush=False)
    db2 = slabdb.Client(store, EngineConfig(background=False))
    assert "tail" in db2.Index("g").fetch(ids=["tail"]).vectors


def test_compaction_reaches_the_top_level_and_drops_tombstones():
    _db, index, ns = _setup()
    index.delete(ids=[f"b0-{i}" for i in range(10)])
    index.flush()
    compact_until_idle(ns)
    assert [s.level for s in ns.manifest.slabs] == [1]
    # The merge started at the oldest slab: tombstones and the versions they hid are gone.
    assert ns.manifest.slabs[0].count == 50
    for b in (6, 7):
        index.upsert_arrays([f"b{b}-{i}" for i in range(10)], np.ones((10, 4)))
        index.flush()
    compact_until_idle(ns)
    assert [s.level for s in ns.manifest.slabs] == [2]
    assert ns.manifest.slabs[0].count == 70
    assert index.describe_index_stats().total_vector_count == 70
