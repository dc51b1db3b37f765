"""A second handle on the same store catches up by reading new WAL entries, never listing."""

import slabdb
from slabdb import EngineConfig
from slabdb.storage import open_store
from slabdb.testing.stores import HookStore


def _wal_lists(store: HookStore) -> int:
    return sum(1 for p in store.list_prefixes if p.endswith("wal/"))


def test_second_handle_catches_up_without_listing_the_log():
    config = EngineConfig(background=False, flush_records=1000)
    store = HookStore(open_store("memory://"))
    writer = slabdb.Client(store, config)
    writer.create_index(name="r", dimension=2, metric="dotproduct")
    w = writer.Index("r")
    w.upsert(vectors=[("a", [1.0, 0.0])])
    reader = slabdb.Client(store, config)
    r = reader.Index("r")
    assert "a" in r.fetch(ids=["a"]).vectors
    for i in range(5):
        w.upsert(vectors=[(f"b{i}", [0.0, 1.0])])
    ns = reader.open_namespaces()[0]
    before = _wal_lists(store)
    ns.refresh()
    ns.refresh()  # nothing new: one GET, no LIST
    assert _wal_lists(store) == before
    assert len(r.fetch(ids=[f"b{i}" for i in range(5)]).vectors) == 5
    assert ns.applied_lsn == 6
    # Writing from the stale handle claims the next free LSN after catching up.
    w.upsert(vectors=[("c", [1.0, 1.0])])
    r.upsert(vectors=[("d", [1.0, 1.0])])
    assert ns.applied_lsn == 8 and "c" in r.fetch(ids=["c"]).vectors
    writer.close(flush=False)
    reader.close(flush=False)
