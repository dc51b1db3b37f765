"""Races and failures found by review: each test forces one interleaving or fault.


Every test is deterministic: a second "process" is a second :class:`slabdb.Client`
on the same store object, and races are forced by a delegating store whose hooks
run the other party's step at the exact moment the race needs it.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

import slabdb
from slabdb import EngineConfig
from slabdb.engine.maintenance import collect_garbage, compact_until_idle
from slabdb.storage import open_store
from slabdb.storage.base import ObjectStore
from slabdb.testing.stores import HookStore


class Spinning(Exception):
    """Raised by a hook to break out of a loop that would otherwise never end."""


MANUAL = EngineConfig(background=False, flush_records=100_000)


def _vec(i: int, dim: int = 4) -> list[float]:
    v = [0.0] * dim
    v[i % dim] = 1.0 + i
    return v


def _two_clients(
    config: EngineConfig = MANUAL,
) -> tuple[ObjectStore, HookStore, slabdb.Client, slabdb.Client]:
    """Client A on the raw store, client B on a HookStore over the same store."""
    inner = open_store("memory://")
    a = slabdb.Client(inner, config)
    a.create_index(name="t", dimension=4, metric="dotproduct")
    hooked = HookStore(inner)
    b = slabdb.Client(hooked, config)
    return inner, hooked, a, b


# --- 1. refresh reads the manifest, then the WAL: GC in between makes a hole ------------
def test_gc_between_manifest_and_wal_read_loses_an_acknowledged_write():
    inner, hooked, a, b = _two_clients()
    ia = a.Index("t")
    ia.upsert(vectors=[("a0", _vec(0))])  # LSN 1
    ia.flush()  # manifest: checkpoint 1
    for i in range(1, 4):
        ia.upsert(vectors=[(f"a{i}", _vec(i))])  # LSNs 2..4, written "long ago"
    ns_a = a.open_namespaces()[0]

    fired = []

    def after_manifest_get(key: str) -> None:
        # B has just read the manifest (checkpoint 1).  Meanwhile A flushes (checkpoint 4)
        # and its GC removes WAL 1..4, which are older than the grace period.
        if key.endswith("manifest.json") and not fired:
            fired.append(key)
            ia.flush()
            later = datetime.now(UTC) + timedelta(seconds=301)
            collect_garbage(ns_a, grace_seconds=300, now=later)

    hooked.hooks["after_get"] = after_manifest_get
    ib = b.Index("t")
    seen = ib.fetch(ids=[f"a{i}" for i in range(4)]).vectors  # B opens the namespace
    assert fired
    ib.upsert(vectors=[("b", _vec(5))])  # acknowledged
    # A fresh process must see every acknowledged record.
    c = slabdb.Client(inner, MANUAL)
    got = c.Index("t").fetch(ids=["b", "a1", "a2", "a3"]).vectors
    assert sorted(got) == ["a1", "a2", "a3", "b"], (sorted(seen), sorted(got))


# --- 2. _publish spins forever when the stored manifest is older than the adopted one ----
def test_flush_after_namespace_deleted_elsewhere_terminates():
    _inner, hooked, a, b = _two_clients()
    ib = b.Index("t")
    ib.upsert(vectors=[("x", _vec(0))])
    ib.flush()  # B has adopted manifest version 1
    a.Index("t").delete_namespace(namespace="")  # another handle deletes the namespace
    ns_b = b.open_namespaces()[0]
    ib.upsert(vectors=[("y", _vec(1))])  # B's handle is still open on the old namespace

    def bounded(_key: str) -> None:
        if hooked.calls["put_if_match"] > 50:
            raise Spinning("manifest CAS retried 50 times")

    hooked.hooks["put_if_match"] = bounded
    try:
        ns_b.flush()
    except Spinning:
        raise
    except Exception:
        pass  # failing cleanly (e.g. NotFound) is acceptable; spinning is not


# --- 3. slab GC ages by write time: an opener that just read the manifest loses its slabs --
def test_gc_of_just_compacted_inputs_breaks_a_concurrent_open():
    config = EngineConfig(background=False, flush_records=100_000, level_fanout=2)
    _inner, hooked, a, b = _two_clients(config)
    ia = a.Index("t")
    for i in range(2):
        ia.upsert(vectors=[(f"a{i}", _vec(i))])
        ia.flush()  # two L0 slabs, written "long ago"
    ns_a = a.open_namespaces()[0]
    fired = []

    def after_manifest_get(key: str) -> None:
        if key.endswith("manifest.json") and not fired:
            fired.append(key)
            compact_until_idle(ns_a)  # the two inputs are no longer referenced...
            later = datetime.now(UTC) + timedelta(seconds=301)
            collect_garbage(ns_a, grace_seconds=300, now=later)  # ...and are old: deleted

    hooked.hooks["after_get"] = after_manifest_get
    got = b.Index("t").fetch(ids=["a0", "a1"]).vectors  # ObjectNotFoundError today
    assert fired and sorted(got) == ["a0", "a1"]


# --- 4. Client.close leaks the executor and store when the final flush fails -------------
class StoreDown(Exception):
    pass


def test_close_releases_resources_even_if_the_final_flush_fails():
    hooked = HookStore(open_store("memory://"))
    db = slabdb.Client(hooked, MANUAL)
    db.create_index(name="t", dimension=4, metric="dotproduct")
    index = db.Index("t")
    index.upsert(vectors=[("x", _vec(0))])
    index.query(vector=_vec(0), top_k=1)

    def fail_slabs(key: str) -> None:
        if "/slabs/" in key:
            raise StoreDown(key)

    hooked.hooks["put_if_absent"] = fail_slabs
    with pytest.raises(StoreDown):
        db.close()
    db.close()  # retrying does nothing
    assert db.executor._shutdown  # type: ignore[attr-defined]


# --- 5. a handle open on a namespace another handle deleted keeps writing into the void ---
def test_stale_handle_after_namespace_recreated_elsewhere():
    inner, _hooked, a, b = _two_clients()
    ib = b.Index("t")
    for i in range(3):
        ib.upsert(vectors=[(f"old{i}", _vec(i))])  # LSNs 1..3 in B's log
    ia = a.Index("t")
    ia.delete_namespace(namespace="")
    ia.upsert(vectors=[("new", _vec(0))])  # the recreated namespace's LSN 1
    ib.upsert(vectors=[("b", _vec(1))])  # B: acknowledged at LSN 4
    for ns in b.open_namespaces():
        ns.refresh()
    b_sees = sorted(ib.fetch(ids=["old0", "new", "b"]).vectors)
    c = slabdb.Client(inner, MANUAL)
    c_sees = sorted(c.Index("t").fetch(ids=["old0", "new", "b"]).vectors)
    assert (b_sees, c_sees) == (["b", "new"], ["b", "new"])


# --- 6. a query waits for an in-flight WAL PUT (the namespace lock is held across it) ----
def test_query_does_not_wait_for_a_wal_write_in_flight():
    hooked = HookStore(open_store("memory://"))
    db = slabdb.Client(hooked, MANUAL)
    db.create_index(name="t", dimension=4, metric="dotproduct")
    index = db.Index("t")
    index.upsert(vectors=[("x", _vec(0))])
    index.query(vector=_vec(0), top_k=1)  # the view is built and cached
    entered, release = threading.Event(), threading.Event()

    def slow_wal(key: str) -> None:
        if "/wal/" in key:
            entered.set()
            release.wait(10)

    hooked.hooks["put_if_absent"] = slow_wal
    writer = threading.Thread(target=index.upsert, kwargs={"vectors": [("y", _vec(1))]})
    writer.start()
    try:
        assert entered.wait(5)
        done = threading.Event()
        reader = threading.Thread(
            target=lambda: (index.query(vector=_vec(0), top_k=1), done.set()), daemon=True
        )
        reader.start()
        answered = done.wait(1.0)  # the PUT is still in flight
    finally:
        release.set()
        writer.join(10)
    assert answered


# --- 7. a failed manifest publish leaks the new slab's reader (and the slab) per retry ---
def test_failed_publish_does_not_accumulate_slab_readers():
    hooked = HookStore(open_store("memory://"))
    db = slabdb.Client(hooked, MANUAL)
    db.create_index(name="t", dimension=4, metric="dotproduct")
    index = db.Index("t")
    index.upsert(vectors=[("x", _vec(0))])
    index.flush()
    ns = db.open_namespaces()[0]
    index.upsert(vectors=[("y", _vec(1))])

    def manifest_down(key: str) -> None:
        raise StoreDown(key)

    hooked.hooks["put_if_match"] = manifest_down
    for _ in range(5):  # what the background worker does on every round
        with pytest.raises(StoreDown):
            ns.flush()
    assert len(ns.readers()) == len(ns.manifest.slabs)  # 1 today: 6


# --- 8. a committed write is reported as failed when the inline flush after it fails -----
def test_write_is_not_reported_failed_when_only_the_flush_after_it_fails():
    hooked = HookStore(open_store("memory://"))
    db = slabdb.Client(hooked, EngineConfig(background=False, flush_records=1))
    db.create_index(name="t", dimension=4, metric="dotproduct")
    index = db.Index("t")

    def slabs_down(key: str) -> None:
        if "/slabs/" in key:
            raise StoreDown(key)

    hooked.hooks["put_if_absent"] = slabs_down
    try:
        index.upsert(vectors=[("x", _vec(0))])
        raised = None
    except StoreDown as exc:
        raised = exc
    assert "x" in index.fetch(ids=["x"]).vectors  # the write did happen...
    assert raised is None  # ...but the caller was told it failed


# --- 9. update/delete by filter is quadratic in the memtable size, under the lock --------
def test_delete_by_filter_does_not_rebuild_a_snapshot_per_record(monkeypatch):
    from slabdb.memtable import memtable as memtable_module

    db = slabdb.connect("memory://", config=MANUAL)
    db.create_index(name="t", dimension=4, metric="dotproduct")
    index = db.Index("t")
    n = 400
    index.upsert_arrays(
        [f"r{i}" for i in range(n)],
        np.ones((n, 4), dtype=np.float32),
        metadata=[{"g": "x"}] * n,
        show_progress=False,
    )
    built = []
    real = memtable_module.MemtableSnapshot

    def counting(*args, **kwargs):
        built.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(memtable_module, "MemtableSnapshot", counting)
    index.update(filter={"g": "x"}, set_metadata={"h": 1})
    index.delete(filter={"g": "x"})
    assert index.describe_index_stats().total_vector_count == 0
    assert len(built) < 20, f"{len(built)} memtable snapshots for 2 filter operations"


# --- 10. compact_once reads the manifest and the readers separately ----------------------
def test_compaction_tolerates_an_adopt_between_plan_and_readers():
    from slabdb.engine.maintenance import compact_once
    from slabdb.engine.namespace import Namespace

    config = EngineConfig(background=False, flush_records=100_000, level_fanout=2)
    _inner, _hooked, a, b = _two_clients(config)
    ia, ib = a.Index("t"), b.Index("t")
    for i in range(2):
        ia.upsert(vectors=[(f"a{i}", _vec(i))])
        ia.flush()
    assert len(ib.fetch(ids=["a0", "a1"]).vectors) == 2  # B holds the two-slab manifest
    compact_until_idle(a.open_namespaces()[0])  # A merges them
    ns_b = b.open_namespaces()[0]
    # The interleaving of the worker thread with a concurrent refresh in B:
    ns_b.readers = lambda: (ns_b.refresh(), Namespace.readers(ns_b))[1]  # type: ignore[method-assign]
    compact_once(ns_b)
    assert len(ib.fetch(ids=["a0", "a1"]).vectors) == 2


# --- 11. rewriting a few hot ids never triggers a flush: memtable and WAL grow forever ----
def test_hot_ids_rewritten_many_times_still_get_flushed():
    db = slabdb.connect("memory://", config=EngineConfig(background=False, flush_records=10))
    db.create_index(name="t", dimension=4, metric="dotproduct")
    index = db.Index("t")
    for i in range(200):
        index.upsert(vectors=[(f"hot{i % 3}", _vec(i))])
        index.update(id=f"hot{i % 3}", set_metadata={"i": i})
    ns = db.open_namespaces()[0]
    rows = ns.view().sources[0].snap.n
    backlog = ns.applied_lsn - ns.manifest.checkpoint_lsn
    assert rows <= 20 and backlog <= 20, (rows, backlog)
